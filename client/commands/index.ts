/**
 * The command table of the client: what each command takes (shown by `kiln --help`, parsed by
 * yargs in client/main.ts), and the module that runs it, imported only when that command runs,
 * so `kiln --help` or `kiln status` never loads the gateway, ioredis or the AWS SDK. The server
 * commands (servers.ts) come only with the repository's `kiln`, not the installed client.
 */
import { defineCommand, type Command } from '../command.ts';
import { PLATFORMS } from '../../protocol/platforms.ts';

export const COMMANDS: Command[] = [
  defineCommand(
    {
      command: 'run [cmd..]',
      describe: 'run a command on the farm, streaming its output; exits with its exit code',
      positional: {
        cmd: { type: 'string', describe: 'the command and its arguments (after --)', array: true },
      },
      options: {
        input: {
          type: 'string',
          describe: 'directory sent as the job directory (content-addressed, only new files upload)',
          alias: 'i',
        },
        output: {
          type: 'array',
          describe: 'path (file or directory) under the job directory to bring back; repeatable',
          alias: 'o',
        },
        'output-dir': {
          type: 'string',
          describe: 'where outputs are written (default: the --input directory, else the current one)',
        },
        detach: {
          type: 'boolean',
          describe: 'print the job id and return at once',
          default: false,
          alias: 'd',
        },
        timeout: { type: 'number', describe: 'time limit of the job in seconds (default 600)' },
        platform: {
          type: 'string',
          describe: 'builder platform (linux-x86_64, linux-aarch64, freebsd-amd64)',
        },
        toolchain: {
          type: 'string',
          alias: 't',
          describe:
            'toolchain preset (NAME@PLATFORM, or NAME for the job platform) or digest: the sandbox root',
        },
        env: { type: 'array', describe: 'NAME=VALUE set in the job environment; repeatable', alias: 'e' },
        cwd: { type: 'string', describe: 'working directory relative to the job directory' },
        'verify-signer': {
          type: 'boolean',
          describe:
            "refuse a result whose signing key is not a registered builder's (also kiln.toml verifySigner, KILN_VERIFY_SIGNER=1)",
        },
        json: {
          type: 'boolean',
          describe: 'print the final job as JSON on stdout instead of streaming output',
          default: false,
        },
      },
    },
    () => import('./run.ts'),
  ),
  defineCommand(
    {
      command: 'status <job>',
      describe: "show a job's state",
      positional: { job: { type: 'string', describe: 'job id' } },
      options: {
        json: { type: 'boolean', describe: 'print the job as JSON', default: false },
        wait: { type: 'number', describe: 'wait up to this many seconds for the job to finish', default: 0 },
      },
    },
    () => import('./status.ts'),
  ),
  defineCommand(
    {
      command: 'logs <job>',
      describe: "print a job's output from the start; with -f, follow it until the job ends",
      positional: { job: { type: 'string', describe: 'job id' } },
      options: {
        follow: {
          type: 'boolean',
          alias: 'f',
          describe: 'keep printing new output until the job ends',
          default: false,
        },
      },
    },
    () => import('./logs.ts'),
  ),
  defineCommand(
    {
      command: 'stop <job>',
      describe: 'stop a job: SIGTERM to all of it, then SIGKILL after its grace period',
      positional: { job: { type: 'string', describe: 'job id' } },
      options: {
        json: { type: 'boolean', describe: 'print the job as JSON', default: false },
        wait: { type: 'boolean', describe: 'wait until the job has ended', default: true },
      },
    },
    () => import('./stop.ts'),
  ),
  defineCommand(
    {
      command: 'cc [compiler]',
      describe:
        'compile on the farm: kiln cc gcc -c a.c -o a.o (also the CMake launcher form: kiln gcc …); falls back to a local compile on any farm failure',
      positional: { compiler: { type: 'string', describe: 'the compiler, then its arguments' } },
    },
    () => import('./cc.ts'),
  ),
  defineCommand(
    {
      command: 'stats',
      describe: 'show what kiln cc did: cache hits and misses, local compiles, fallbacks and why',
      options: {
        json: { type: 'boolean', describe: 'print the counters as JSON', default: false },
        reset: { type: 'boolean', describe: 'zero the counters', default: false },
      },
    },
    () => import('./stats.ts'),
  ),
  defineCommand(
    {
      command: 'toolchain package <compiler>',
      describe: 'package a local gcc or clang (Linux) and everything it needs into a toolchain archive',
      positional: {
        compiler: {
          type: 'string',
          describe: 'the compiler: a path, or a name found in PATH (gcc, aarch64-linux-gnu-gcc, clang++)',
        },
      },
      options: {
        output: {
          type: 'string',
          alias: 'o',
          describe: 'archive to write (default ./<name>-<first 12 digits of its sha256>.tar.gz)',
        },
        shell: {
          type: 'boolean',
          default: true,
          describe: 'include /bin/sh and its libraries so jobs can run sh -c (--no-shell leaves them out)',
        },
        'gzip-level': { type: 'number', default: 6, describe: 'gzip level, 1 (fastest) to 9 (smallest)' },
        json: {
          type: 'boolean',
          default: false,
          describe: 'print { file, digest, size, tarSize, files, compilerPath, ... } as JSON',
        },
      },
    },
    () => import('./toolchain-package.ts'),
  ),
  defineCommand(
    {
      command: 'toolchain push <file>',
      describe: 'upload a toolchain archive (only if the farm lacks it) and publish it as NAME@PLATFORM',
      positional: {
        file: { type: 'string', describe: 'the archive (tar or tar.gz, e.g. from kiln toolchain package)' },
      },
      options: {
        name: { type: 'string', describe: 'preset name, such as gcc-12 or clang-17' },
        platform: {
          type: 'string',
          describe: 'platform the toolchain RUNS on (builders of it use it)',
          choices: [...PLATFORMS],
        },
        compiler: {
          type: 'string',
          describe: 'absolute path of the compiler inside the archive, such as /usr/bin/gcc',
        },
        target: {
          type: 'array',
          describe:
            'a target it compiles for, such as x86_64-pc-windows-msvc or arm64-apple-macos11; repeatable (kiln cc compiles any other target locally)',
        },
        json: {
          type: 'boolean',
          describe: 'print { preset, digest, size, uploaded } as JSON',
          default: false,
        },
      },
    },
    () => import('./toolchain-push.ts'),
  ),
  defineCommand(
    {
      command: 'toolchain ls',
      describe: 'list the toolchain presets of the farm',
      options: { json: { type: 'boolean', describe: 'print { presets: [...] } as JSON', default: false } },
    },
    () => import('./toolchain-ls.ts'),
  ),
  defineCommand(
    {
      command: 'toolchain rm <preset>',
      describe: 'remove a toolchain preset (yours, or any as an admin), and with --with-archive its archive',
      positional: { preset: { type: 'string', describe: 'NAME@PLATFORM, such as gcc-12@linux-x86_64' } },
      options: {
        'with-archive': {
          type: 'boolean',
          describe: 'also delete the archive from the farm (refused while another preset uses it)',
          default: false,
        },
        json: { type: 'boolean', describe: 'print { removed, archiveDeleted } as JSON', default: false },
      },
    },
    () => import('./toolchain-rm.ts'),
  ),
  defineCommand(
    {
      command: 'auth login',
      describe:
        'sign in with your identity provider (device code, or the browser with PKCE); kept per gateway',
      options: {
        flow: {
          type: 'string',
          describe: "device: enter a code on any device; browser: this machine's browser",
          choices: ['device', 'browser'],
          default: 'device',
        },
        issuer: { type: 'string', describe: 'identity provider URL (default: auth.issuer in kiln.toml)' },
        'client-id': { type: 'string', describe: 'OAuth client id (default: auth.clientId in kiln.toml)' },
        open: { type: 'boolean', describe: 'open the browser (browser flow)', default: true },
      },
    },
    () => import('./auth-login.ts'),
  ),
  defineCommand(
    {
      command: 'auth token',
      describe: 'print a valid credential for the gateway (refreshing a login, or fetching a CI token)',
      options: { source: { type: 'boolean', describe: 'say on stderr where it came from', default: false } },
    },
    () => import('./auth-token.ts'),
  ),
  defineCommand(
    { command: 'auth logout', describe: 'forget the stored login for the gateway' },
    () => import('./auth-logout.ts'),
  ),
  defineCommand(
    {
      command: 'farm status',
      describe: 'list the builders of the farm and their load',
      options: { json: { type: 'boolean', describe: 'print JSON', default: false } },
    },
    () => import('./farm-status.ts'),
  ),
  defineCommand(
    {
      command: 'farm drain <builder>',
      describe: 'set a builder draining: no new job is placed on it, running jobs finish (admin)',
      positional: { builder: { type: 'string', describe: 'builder name (builder.toml name) or id' } },
      options: {
        json: { type: 'boolean', describe: 'print JSON', default: false },
        wait: { type: 'number', describe: 'wait up to S seconds until its jobs have finished' },
      },
    },
    () => import('./farm-drain.ts'),
  ),
  defineCommand(
    {
      command: 'farm undrain <builder>',
      describe: 'let placement use a drained builder again (admin)',
      positional: { builder: { type: 'string', describe: 'builder name (builder.toml name) or id' } },
      options: { json: { type: 'boolean', describe: 'print JSON', default: false } },
    },
    () => import('./farm-undrain.ts'),
  ),
  defineCommand(
    {
      command: 'host-check',
      describe: 'check this builder host with its builder.toml: Redis, store, bwrap, cgroups, disk, version',
      options: {
        config: { type: 'string', alias: 'c', describe: 'path of builder.toml' },
        json: { type: 'boolean', describe: 'print JSON', default: false },
        minFree: {
          type: 'number',
          describe: 'free space (%) under which the work disk is nearly full',
          default: 10,
        },
      },
    },
    () => import('./host-check.ts'),
  ),
];
