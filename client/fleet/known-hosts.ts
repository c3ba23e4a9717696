/**
 * OpenSSH known_hosts, as `ssh` reads it: plain and hashed (`|1|salt|hmac`) host patterns, `*`
 * and `?` wildcards, `!` negation, `[host]:port` for ports other than 22, `@revoked` lines.
 * `verifyHostKey` answers whether a presented key is trusted, and why not.
 */
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';

interface Entry {
  patterns: string[];
  /** The raw key blob (base64-decoded), as ssh2 hands it to `hostVerifier`. */
  blob: Buffer;
  type: string;
  revoked: boolean;
}

export type HostKeyVerdict =
  { ok: true } | { ok: false; reason: 'unknown' | 'changed' | 'revoked'; message: string };

/** The name known_hosts uses for a host and port. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(
    '^' +
      pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.') +
      '$',
    'i',
  );
  return re.test(name);
}

function matches(patterns: string[], name: string): boolean {
  let hit = false;
  for (const p of patterns) {
    if (p.startsWith('|1|')) {
      const [, , salt, hash] = p.split('|');
      const h = createHmac('sha1', Buffer.from(salt ?? '', 'base64'))
        .update(name)
        .digest('base64');
      if (h === hash) hit = true;
    } else if (p.startsWith('!')) {
      if (globMatch(p.slice(1), name)) return false;
    } else if (globMatch(p, name)) hit = true;
  }
  return hit;
}

export function parseKnownHosts(text: string): Entry[] {
  const out: Entry[] = [];
  for (const line of text.split(/\r?\n/)) {
    const words = line.trim().split(/\s+/);
    if (!words[0] || words[0].startsWith('#')) continue;
    let revoked = false;
    if (words[0].startsWith('@')) {
      if (words[0] === '@cert-authority') continue; // host certificates: not supported here
      revoked = words[0] === '@revoked';
      words.shift();
    }
    const [hosts, type, key] = words;
    if (!hosts || !type || !key) continue;
    out.push({ patterns: hosts.split(','), type, blob: Buffer.from(key, 'base64'), revoked });
  }
  return out;
}

/** `SHA256:…` as `ssh-keygen -l` prints it. */
export function fingerprint(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

function keyType(blob: Buffer): string {
  const n = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
  return blob.subarray(4, 4 + n).toString();
}

/** Is `blob` a trusted key of `host`:`port` according to the known_hosts `file`? */
export function verifyHostKey(file: string, host: string, port: number, blob: Buffer): HostKeyVerdict {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    /* no file: every key is unknown */
  }
  const name = knownHostsName(host, port);
  const entries = parseKnownHosts(text).filter((e) => matches(e.patterns, name));
  const type = keyType(blob);
  const short = type.startsWith('ecdsa') ? 'ecdsa' : type.replace(/^ssh-/, '');
  const fp = fingerprint(blob);
  const scan = `ssh-keyscan ${port === 22 ? '' : `-p ${port} `}-t ${short} ${host} >> ${file}`;
  if (entries.some((e) => e.revoked && e.blob.equals(blob))) {
    return {
      ok: false,
      reason: 'revoked',
      message: `the host key of ${name} (${fp}) is marked @revoked in ${file}`,
    };
  }
  if (entries.some((e) => !e.revoked && e.blob.equals(blob))) return { ok: true };
  if (entries.some((e) => !e.revoked && e.type === type)) {
    return {
      ok: false,
      reason: 'changed',
      message:
        `the ${type} host key of ${name} CHANGED (now ${fp}) from the one in ${file}: someone may be ` +
        `intercepting the connection, or the host was reinstalled. Check it, then replace the line ` +
        `(ssh-keygen -R '${name}' -f ${file}; ${scan})`,
    };
  }
  return {
    ok: false,
    reason: 'unknown',
    message:
      `the host key of ${name} (${type} ${fp}) is not in ${file}: refusing to connect. Check the ` +
      `fingerprint on the host (ssh-keygen -lf /etc/ssh/ssh_host_${short}_key.pub), then trust it with: ${scan}`,
  };
}
