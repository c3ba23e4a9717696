/**
 * The server and operator commands (`kiln dev`, `kiln gateway`, `kiln builder`, `kiln fleet …`):
 * in the repository's `kiln` (client/bin/kiln.js), not in the installed client package
 * (scripts/build-client.mjs), which ships the client commands of index.ts only.
 */
import { defineCommand, type Command } from '../command.ts';
import { FLEET_OPTIONS, FLEET_POSITIONAL } from '../fleet/options.ts';

export const SERVER_COMMANDS: Command[] = [
  defineCommand(
    {
      command: 'fleet check [hosts..]',
      describe: 'check builder hosts over SSH: agent, bwrap, cgroups, clock, Redis and store, disk, version',
      positional: FLEET_POSITIONAL,
      options: {
        ...FLEET_OPTIONS,
        maxSkew: {
          type: 'number',
          describe: 'clock skew against the gateway counted as a fault, seconds',
          default: 3,
        },
        expectVersion: {
          type: 'string',
          describe: "the kiln version every host must run (default: the gateway's)",
        },
      },
    },
    () => import('./fleet-check.ts'),
  ),
  defineCommand(
    {
      command: 'fleet drain [hosts..]',
      describe: 'set the builders of these hosts draining (no new jobs; running ones finish)',
      positional: FLEET_POSITIONAL,
      options: {
        ...FLEET_OPTIONS,
        wait: { type: 'number', describe: 'wait up to S seconds until they hold no job' },
      },
    },
    () => import('./fleet-drain.ts'),
  ),
  defineCommand(
    {
      command: 'fleet undrain [hosts..]',
      describe: 'let placement use the builders of these hosts again',
      positional: FLEET_POSITIONAL,
      options: FLEET_OPTIONS,
    },
    () => import('./fleet-undrain.ts'),
  ),
  defineCommand(
    {
      command: 'fleet restart [hosts..]',
      describe: 'drain, restart the agent, wait until it registered again, undrain (host by host)',
      positional: FLEET_POSITIONAL,
      options: {
        ...FLEET_OPTIONS,
        parallel: { type: 'number', describe: 'hosts restarted at once', default: 1 },
        wait: { type: 'number', describe: 'seconds to wait for running jobs to finish', default: 600 },
        registerTimeout: {
          type: 'number',
          describe: 'seconds to wait for the new agent to register',
          default: 120,
        },
      },
    },
    () => import('./fleet-restart.ts'),
  ),
  defineCommand(
    {
      command: 'fleet logs [hosts..]',
      describe: "print the builder agent's log of each host (journal or /var/log/kiln/builder.log)",
      positional: FLEET_POSITIONAL,
      options: {
        ...FLEET_OPTIONS,
        lines: { type: 'number', alias: 'n', describe: 'last lines to print', default: 50 },
        follow: { type: 'boolean', alias: 'f', describe: 'keep following (one host only)', default: false },
      },
    },
    () => import('./fleet-logs.ts'),
  ),
  defineCommand(
    {
      command: 'dev',
      describe: 'run a whole farm on this machine (redis-server, gateway, builders) until Ctrl-C',
      options: {
        builders: { type: 'number', describe: 'builder agents to start', default: 1 },
        slots: { type: 'number', describe: 'job slots per builder', default: 2 },
        port: { type: 'number', describe: 'gateway port (0: any free port)', default: 8420 },
        s3: {
          type: 'string',
          describe: 'use an S3 bucket (http://HOST:PORT/BUCKET) instead of a local directory',
        },
        example: {
          type: 'boolean',
          describe: 'run an example job (compile and run hello.c) once the farm is up',
          default: false,
        },
        verbose: { type: 'boolean', describe: 'print the builders’ logs', default: false, alias: 'v' },
      },
    },
    () => import('./dev.ts'),
  ),
  defineCommand(
    {
      command: 'redis acl',
      describe:
        "print the farm's Redis ACL file: a user for the gateway, one per builder, an admin (docs/security.md)",
      options: {
        prefix: { type: 'string', describe: 'the farm’s redis.prefix', default: 'kiln' },
        builder: {
          type: 'array',
          describe:
            'a builder user for this builder name (builder.toml name), NAME or NAME@PLATFORM; repeatable',
        },
        'password-dir': {
          type: 'string',
          describe: 'read each password from DIR/<user>.password, or write a generated one there (0600)',
        },
        admin: { type: 'boolean', describe: 'add kiln-admin (all commands, for operators)', default: true },
        keep: {
          type: 'string',
          describe: 'also allow the builder scripts this older ACL file allowed (rolling upgrades)',
        },
        out: { type: 'string', describe: 'write the file here instead of stdout' },
      },
    },
    () => import('./redis-acl.ts'),
  ),
  defineCommand(
    {
      command: 'gateway',
      describe: 'run the HTTP gateway (config: gateway.toml and KILN_A__B environment overrides)',
      options: { config: { type: 'string', alias: 'c', describe: 'path of gateway.toml' } },
    },
    () => import('./gateway.ts'),
  ),
  defineCommand(
    {
      command: 'builder',
      describe: 'run a builder agent (config: builder.toml and KILN_A__B environment overrides)',
      options: { config: { type: 'string', alias: 'c', describe: 'path of builder.toml' } },
    },
    () => import('./builder.ts'),
  ),
];
