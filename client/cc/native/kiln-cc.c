/*
 * kiln-cc: the native front of `kiln cc` (like sccache's client). make runs it once per compile,
 * so it must start in a millisecond: it hands the command line, the working directory and the
 * environment to the kiln cc daemon over a Unix socket (starting the daemon when none runs),
 * relays the daemon's stdout/stderr frames, and exits with the compiler's exit code.
 * When no daemon can be reached it runs `node kiln.js cc …` instead, so a compile never fails
 * because of kiln.
 *
 * Wire format (both directions little-endian):
 *   request : u32 length, then NUL-terminated strings: "kiln-cc/1", cwd, argc, argv…, envc, env…
 *             (the environment ends with KILN_CC_STDERR_TTY=1 or =0: is our stderr a terminal)
 *   response: frames of u8 kind ('o' stdout, 'e' stderr, 'x' exit status as decimal text),
 *             u32 length, payload
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
  int envc = 1;
  for (char **e = environ; *e; e++) envc++;
  snprintf(num, sizeof num, "%d", envc);
  put_str(&b, num);
  for (char **e = environ; *e; e++) put_str(&b, *e);
  /* Last, so it wins: compiles the daemon runs here colour their diagnostics as if on our stderr. */
  put_str(&b, isatty(2) ? "KILN_CC_STDERR_TTY=1" : "KILN_CC_STDERR_TTY=0");
  uint32_t len = (uint32_t)(b.len - 4);
  memcpy(b.data, &len, 4);

  int fd = connect_or_start(path);
  if (fd < 0 || write_all(fd, b.data, b.len) < 0) return run_node(argc, argv);

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
    free(payload);
  }
}
