/**
 * One SSH connection to a fleet host (ssh2): the host key is checked against known_hosts
 * (./known-hosts.ts; an unknown or changed key is refused, never accepted silently), and the user
 * authenticates with the SSH agent ($SSH_AUTH_SOCK) and/or a key file. Commands run with `exec`.
 */
import { readFileSync } from 'node:fs';
import { Client, type ConnectConfig } from 'ssh2';
import { UserError } from '../errors.ts';
import { verifyHostKey, type HostKeyVerdict } from './known-hosts.ts';

export interface SshTarget {
  /** Inventory name (for messages). */
  name: string;
  host: string;
  port: number;
  user: string;
  /** A private key file (ansible_ssh_private_key_file, or --identity). */
  keyFile?: string;
  knownHosts: string;
  /** The agent's socket. @default $SSH_AUTH_SOCK */
  agent?: string;
  /** @default 10000 */
  timeoutMs?: number;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface SshSession {
  exec(command: string, onData?: (chunk: Buffer, stream: 'out' | 'err') => void): Promise<ExecResult>;
  close(): void;
}

/** Connects, or throws a UserError that names the host and what to do. */
export async function connectSsh(t: SshTarget): Promise<SshSession> {
  let verdict: HostKeyVerdict | null = null;
  const cfg: ConnectConfig = {
    host: t.host,
    port: t.port,
    username: t.user,
    readyTimeout: t.timeoutMs ?? 10_000,
    hostVerifier: (key: Buffer) => {
      verdict = verifyHostKey(t.knownHosts, t.host, t.port, key);
      return verdict.ok;
    },
  };
  const agent = t.agent ?? process.env.SSH_AUTH_SOCK;
  if (agent) cfg.agent = agent;
  if (t.keyFile) {
    try {
      cfg.privateKey = readFileSync(t.keyFile);
    } catch (err) {
      throw new UserError(`${t.name}: cannot read the key file ${t.keyFile}: ${(err as Error).message}`);
    }
  }
  if (!cfg.agent && !cfg.privateKey) {
    throw new UserError(
      `${t.name}: no SSH agent ($SSH_AUTH_SOCK) and no key file: start ssh-agent or give --identity`,
    );
  }
  const client = new Client();
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve());
    client.once('error', (err: Error & { level?: string }) => {
      const v = verdict as HostKeyVerdict | null;
      if (v && !v.ok) return reject(new UserError(`${t.name}: ${v.message}`));
      const why =
        err.level === 'client-authentication'
          ? `${t.user}@ was refused every key (agent and key file); is your key in its authorized_keys?`
          : err.message;
      reject(new UserError(`${t.name} (${t.host}:${t.port}): ${why}`));
    });
    client.connect(cfg);
  });
  return {
    exec(command, onData) {
      return new Promise((resolve, reject) => {
        client.exec(command, (err, stream) => {
          if (err) return reject(new UserError(`${t.name}: cannot run a command: ${err.message}`));
          const out: Buffer[] = [];
          const errs: Buffer[] = [];
          stream.on('data', (d: Buffer) => (onData ? onData(d, 'out') : out.push(d)));
          stream.stderr.on('data', (d: Buffer) => (onData ? onData(d, 'err') : errs.push(d)));
          stream.on('close', (code: number | null) =>
            resolve({
              code: code ?? 255,
              stdout: Buffer.concat(out).toString(),
              stderr: Buffer.concat(errs).toString(),
            }),
          );
        });
      });
    },
    close() {
      client.end();
    },
  };
}
