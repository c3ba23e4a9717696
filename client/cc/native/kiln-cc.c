/*
 * kiln-cc: the native front of `kiln cc` (like sccache's client). make runs it once per compile,
 * so it must start in a millisecond: it hands the command line, the working directory and the
 * environment to the kiln cc daemon over a Unix socket (starting the daemon when none runs),
 * relays the daemon's stdout/stderr frames, and exits with the compiler's exit code.
 * When no daemon can be reached it runs `node kiln.js cc …` instead, so a compile never fails
 * because of kiln.
 *
 * It also runs the compile's commands when the daemon asks (a fork of this small process costs
 * far less than one of the daemon's, and a local compile then writes to our own stdout/stderr,
 * the terminal itself): client/cc/front-steps.ts.
 *
 * Wire format (both directions little-endian):
 *   request : u32 length, then NUL-terminated strings: "kiln-cc/1", cwd, argc, argv…, envc, env…
 *             (the environment ends with KILN_CC_FRONT=steps: we run steps, and
 *             KILN_CC_STDERR_TTY=1 or =0: is our stderr a terminal)
 *   response: frames of u8 kind, u32 length, payload: 'o' stdout bytes, 'e' stderr bytes,
 *             'r' a step to run, 'x' the exit status as decimal text (the last frame)
 *   'r'     : NUL-terminated strings: stdin ("null" | "inherit"), stdout ("-": ours, else a file
 *             to create, 0600, O_EXCL), stderr ("capture" | "inherit"), cwd, argc, argv…, envc, env…
 *   reply   : to each 'r', one frame 's': "exit N" | "signal N" | "errno N" (not started: errno N),
 *             a NUL, then the captured stderr bytes
 *
 * Build: gcc -O2 -o kiln-cc kiln-cc.c -DKILN_JS='"/path/to/client/bin/kiln.js"'
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef KILN_JS
#error "define KILN_JS as the path of client/bin/kiln.js"
#endif

extern char **environ;

struct buf { char *data; size_t len, cap; };

static void put(struct buf *b, const char *s, size_t n) {
  if (b->len + n > b->cap) {
    b->cap = (b->len + n) * 2 + 4096;
    b->data = realloc(b->data, b->cap);
    if (!b->data) { perror("kiln-cc"); exit(70); }
  }
  memcpy(b->data + b->len, s, n);
  b->len += n;
}
static void put_str(struct buf *b, const char *s) { put(b, s, strlen(s) + 1); }

/* The socket path: $KILN_CC_SOCKET, else $XDG_RUNTIME_DIR/kiln-cc.sock, else /tmp/kiln-<uid>/cc.sock. */
static void socket_path(char *out, size_t n) {
  const char *s = getenv("KILN_CC_SOCKET");
  if (s && *s) { snprintf(out, n, "%s", s); return; }
  const char *xdg = getenv("XDG_RUNTIME_DIR");
  if (xdg && *xdg) { snprintf(out, n, "%s/kiln-cc.sock", xdg); return; }
  snprintf(out, n, "/tmp/kiln-%u/cc.sock", (unsigned)getuid());
}

static int try_connect(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_un a = { .sun_family = AF_UNIX };
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) return fd;
  close(fd);
  return -1;
}

/* Starts `node kiln.js cc-daemon` detached, its output to a log beside the socket. */
static void start_daemon(const char *path) {
  pid_t pid = fork();
  if (pid != 0) return;
  setsid();
  char log[512];
  snprintf(log, sizeof log, "%s.log", path);
  int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
  int null = open("/dev/null", O_RDONLY);
  if (null >= 0) dup2(null, 0);
  if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); }
  if (fork() != 0) _exit(0);
  execlp("node", "node", KILN_JS, "cc-daemon", (char *)NULL);
  _exit(127);
}

static int connect_or_start(const char *path) {
  int fd = try_connect(path);
  if (fd >= 0) return fd;
  start_daemon(path);
  for (int i = 0; i < 300; i++) { /* up to ~6 s: the daemon loads TypeScript on its first start */
    struct timespec t = { 0, 20 * 1000 * 1000 };
    nanosleep(&t, NULL);
    fd = try_connect(path);
    if (fd >= 0) return fd;
  }
  return -1;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) { if (errno == EINTR) continue; return -1; }
    p += w; n -= (size_t)w;
  }
  return 0;
}

static int read_all(int fd, char *p, size_t n) {
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0) { if (errno == EINTR) continue; return -1; }
    if (r == 0) return -1;
    p += r; n -= (size_t)r;
  }
  return 0;
}

/* Sends on the socket without SIGPIPE (a daemon gone away is an error, not our death). */
static int send_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) { if (errno == EINTR) continue; return -1; }
    p += w; n -= (size_t)w;
  }
  return 0;
}

/* The next NUL-terminated string of a step's payload, or NULL when it runs past its end. */
static char *next_str(char **p, char *end) {
  char *s = *p;
  char *nul = s < end ? memchr(s, 0, (size_t)(end - s)) : NULL;
  if (!nul) return NULL;
  *p = nul + 1;
  return s;
}

/* A count, then that many strings, as a NULL-terminated array; NULL when malformed. */
static char **str_list(char **p, char *end) {
  char *num = next_str(p, end);
  if (!num) return NULL;
  char *stop;
  long n = strtol(num, &stop, 10);
  if (*stop || n < 0 || n > (end - *p)) return NULL;
  char **v = calloc((size_t)n + 1, sizeof *v);
  if (!v) return NULL;
  for (long i = 0; i < n; i++)
    if (!(v[i] = next_str(p, end))) { free(v); return NULL; }
  return v;
}

/* In the child: the step's fds, cwd and environment, then exec; on failure errno goes to `report`. */
static void exec_step(const char *in, const char *out, int err_fd, const char *cwd, char **argv,
                      char **envp, int report) {
  int fd;
  if (strcmp(in, "null") == 0) {
    if ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0 || dup2(fd, 0) < 0) goto fail;
  }
  if (strcmp(out, "-") != 0) {
    if ((fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0 || dup2(fd, 1) < 0) goto fail;
  }
  if (err_fd >= 0 && dup2(err_fd, 2) < 0) goto fail;
  if (chdir(cwd) < 0) goto fail;
  environ = envp; /* execvp then looks the compiler up in the step's PATH, as Node's spawn does */
  execvp(argv[0], argv);
fail:;
  int e = errno;
  ssize_t w;
  do w = write(report, &e, sizeof e); while (w < 0 && errno == EINTR);
  _exit(127);
}

/* Runs the step of an 'r' payload and sends its 's' frame; -1 when the socket fails. */
static int run_step(int sock, char *p, size_t n) {
  char *end = p + n;
  char *in = next_str(&p, end), *out = next_str(&p, end), *err = next_str(&p, end);
  char *cwd = next_str(&p, end);
  char **argv = cwd ? str_list(&p, end) : NULL;
  char **envp = argv ? str_list(&p, end) : NULL;
  struct buf reply = { 0 };
  char status[64];
  put(&reply, "s\0\0\0\0", 5);
  int capture = err && strcmp(err, "capture") == 0;
  int errs[2] = { -1, -1 }, report[2] = { -1, -1 };
  pid_t pid = -1;
  if (!envp || !argv[0]) {
    snprintf(status, sizeof status, "errno %d", EINVAL);
  } else if ((capture && pipe2(errs, O_CLOEXEC) < 0) || pipe2(report, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
    snprintf(status, sizeof status, "errno %d", errno);
  } else if (pid == 0) {
    exec_step(in, out, errs[1], cwd, argv, envp, report[1]);
  }
  if (pid > 0) {
    close(report[1]);
    if (capture) close(errs[1]);
    int e = 0;
    ssize_t r;
    do r = read(report[0], &e, sizeof e); while (r < 0 && errno == EINTR);
    int failed = r == (ssize_t)sizeof e; /* else EOF: the exec closed it */
    close(report[0]);
    struct buf errbuf = { 0 };
    char chunk[65536];
    while (capture) {
      r = read(errs[0], chunk, sizeof chunk);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      put(&errbuf, chunk, (size_t)r);
    }
    if (capture) close(errs[0]);
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {}
    if (failed) snprintf(status, sizeof status, "errno %d", e);
    else if (WIFSIGNALED(ws)) snprintf(status, sizeof status, "signal %d", WTERMSIG(ws));
    else snprintf(status, sizeof status, "exit %d", WEXITSTATUS(ws));
    put_str(&reply, status);
    if (errbuf.len) put(&reply, errbuf.data, errbuf.len);
    free(errbuf.data);
  } else {
    put_str(&reply, status);
    for (int i = 0; i < 2; i++) {
      if (errs[i] >= 0) close(errs[i]);
      if (report[i] >= 0) close(report[i]);
    }
  }
  free(argv);
  free(envp);
  uint32_t len = (uint32_t)(reply.len - 5);
  memcpy(reply.data + 1, &len, 4);
  int ok = send_all(sock, reply.data, reply.len);
  free(reply.data);
  return ok;
}

/* No daemon: the Node client does the same work (slower start, same result). */
static int run_node(int argc, char **argv) {
  char **args = calloc((size_t)argc + 4, sizeof *args);
  args[0] = "node"; args[1] = KILN_JS; args[2] = "cc";
  for (int i = 1; i < argc; i++) args[i + 2] = argv[i];
  execvp("node", args);
  perror("kiln-cc: cannot run node");
  return 127;
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: kiln-cc <compiler> <args...>\n"); return 2; }
  char path[256];
  socket_path(path, sizeof path);
  char dir[256];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash) { *slash = 0; mkdir(dir, 0700); }

  struct buf b = { 0 };
  char num[32];
  put(&b, "\0\0\0\0", 4);
  put_str(&b, "kiln-cc/1");
  char cwd[4096];
  if (!getcwd(cwd, sizeof cwd)) return run_node(argc, argv);
  put_str(&b, cwd);
  snprintf(num, sizeof num, "%d", argc - 1);
  put_str(&b, num);
  for (int i = 1; i < argc; i++) put_str(&b, argv[i]);
  int envc = 2;
  for (char **e = environ; *e; e++) envc++;
  snprintf(num, sizeof num, "%d", envc);
  put_str(&b, num);
  for (char **e = environ; *e; e++) put_str(&b, *e);
  put_str(&b, "KILN_CC_FRONT=steps");
  /* Last, so it wins: compiles the daemon runs here colour their diagnostics as if on our stderr. */
  put_str(&b, isatty(2) ? "KILN_CC_STDERR_TTY=1" : "KILN_CC_STDERR_TTY=0");
  uint32_t len = (uint32_t)(b.len - 4);
  memcpy(b.data, &len, 4);

  int fd = connect_or_start(path);
  if (fd < 0 || send_all(fd, b.data, b.len) < 0) return run_node(argc, argv);

  int answered = 0;
  for (;;) {
    char head[5];
    if (read_all(fd, head, 5) < 0) {
      if (!answered) return run_node(argc, argv); /* nothing was said yet: do it all again without the daemon */
      fprintf(stderr, "kiln-cc: the kiln cc daemon went away mid-compile\n");
      return 70;
    }
    answered = 1;
    uint32_t n;
    memcpy(&n, head + 1, 4);
    char *payload = malloc(n + 1);
    if (!payload || read_all(fd, payload, n) < 0) { fprintf(stderr, "kiln-cc: truncated answer\n"); return 70; }
    payload[n] = 0;
    if (head[0] == 'o') write_all(1, payload, n);
    else if (head[0] == 'e') write_all(2, payload, n);
    else if (head[0] == 'x') return atoi(payload);
    else if (head[0] == 'r' && run_step(fd, payload, n) < 0) {
      fprintf(stderr, "kiln-cc: the kiln cc daemon went away mid-compile\n");
      return 70;
    }
    free(payload);
  }
}
