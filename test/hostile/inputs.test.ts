/**
 * Hostile tenant through what it sends and declares: input archives and manifests that try to
 * write outside the job directory (traversal, links, devices), manifests that lie about sizes,
 * and declared outputs that probe the builder host through links or are special files. Real jobs
 * on a bwrap builder; a marker written outside would be found on the host.
 */
import { describe } from 'node:test';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import tar from 'tar-stream';
import { api, type Client } from '../helpers/http.ts';
import { b64, jobError, outputEntries, said, useHostileFarm, type HostileFarm } from './farm.ts';
import { hostileSuite, tried, type Try } from './tally.ts';

const suite = hostileSuite('inputs');
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

type Entry = Partial<tar.Header> & { name: string; body?: string };

async function tarOf(entries: Entry[]): Promise<Uint8Array<ArrayBuffer>> {
  const pack = tar.pack();
  for (const { body, ...header } of entries) pack.entry(header, body ?? '');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as AsyncIterable<Buffer>) chunks.push(c);
  return new Uint8Array(Buffer.concat(chunks));
}

async function upload(
  who: Client,
  bytes: Uint8Array<ArrayBuffer>,
): Promise<{ digest: string; size: number }> {
  const digest = sha(bytes);
  const r = await api(who, `/api/v1/blobs/${digest}`, { method: 'PUT', body: bytes });
  if (r.status !== 201) throw new Error(`upload: ${said(r.status, r.body)}`);
  return { digest, size: bytes.byteLength };
}

/** Paths named `marker` anywhere under the farm's data dir or /tmp (other processes' temp dirs may vanish meanwhile). */
function found(h: HostileFarm, marker: string): string {
  return spawnSync('find', [h.farm().dataDir, '/tmp', '-maxdepth', '8', '-name', marker], {
    encoding: 'utf8',
  }).stdout.trim();
}

/** Runs a job on `input` (a tar) or `tree` (a manifest); refused when it fails with `code` and wrote no marker. */
async function refusedInput(
  h: HostileFarm,
  what: string,
  marker: string,
  ref: { input?: unknown; tree?: unknown },
  code = 'ERR_ARCHIVE_INVALID',
): Promise<Try> {
  const ran = await h.run(h.acme(), { argv: ['sh', '-c', 'echo ran'], ...ref });
  const outside = found(h, marker);
  const ok =
    ran.job?.state === 'failed' && jobError(ran.job) === code && !ran.stdout.includes('ran') && !outside;
  const detail = outside
    ? `wrote ${outside}`
    : ran.job
      ? `${String(ran.job.state)} ${jobError(ran.job) ?? ''} ${(ran.job.error as { message?: string } | null)?.message ?? ''}`
      : said(ran.status, ran.body);
  return tried(what, ok, detail.slice(0, 200));
}

describe('hostile tenant: inputs and declared outputs', { concurrency: 4, timeout: 240_000 }, () => {
  const h = useHostileFarm();
  const mark = (): string => `kiln-escaped-${randomBytes(5).toString('hex')}`;

  const tarTries = async (cases: [string, (m: string) => Entry[]][]): Promise<Try[]> =>
    Promise.all(
      cases.map(async ([what, entries]) => {
        const m = mark();
        const input = await upload(h.acme(), await tarOf(entries(m)));
        return refusedInput(h, what, m, { input });
      }),
    );

  suite.attack('archive-traversal', async () =>
    tarTries([
      ['../../../../marker', (m) => [{ name: `../../../../${m}`, body: 'x' }]],
      ['/tmp/marker (absolute)', (m) => [{ name: `/tmp/${m}`, body: 'x' }]],
      ['a/../../marker', (m) => [{ name: `a/../../${m}`, body: 'x' }]],
      ['..\\..\\marker (backslashes)', (m) => [{ name: `..\\..\\${m}`, body: 'x' }]],
      ['a directory ../marker', (m) => [{ name: `../${m}`, type: 'directory' }]],
    ]),
  );

  suite.attack('archive-links', async () =>
    tarTries([
      [
        'symlink to /tmp, then a file through it',
        (m) => [
          { name: 'l', type: 'symlink', linkname: '/tmp' },
          { name: `l/${m}`, body: 'x' },
        ],
      ],
      [
        'symlink ../.. then a file through it',
        (m) => [
          { name: 'up', type: 'symlink', linkname: '../../..' },
          { name: `up/${m}`, body: 'x' },
        ],
      ],
      [
        'symlink to /etc/shadow',
        (m) => [
          { name: m, type: 'symlink', linkname: '/etc/shadow' },
          { name: 'f', body: 'x' },
        ],
      ],
      ['hard link to /etc/passwd', (m) => [{ name: m, type: 'link', linkname: '/etc/passwd' }]],
      ['hard link to ../../etc/passwd', (m) => [{ name: m, type: 'link', linkname: '../../etc/passwd' }]],
      [
        'a file over a symlink to outside',
        (m) => [
          { name: m, type: 'symlink', linkname: `/tmp/${m}` },
          { name: m, body: 'overwrite' },
        ],
      ],
    ]),
  );

  suite.attack('archive-devices', async () =>
    tarTries([
      [
        'character device 1:1 (/dev/mem)',
        (m) => [{ name: m, type: 'character-device', devmajor: 1, devminor: 1 }],
      ],
      ['block device 8:0 (a disk)', (m) => [{ name: m, type: 'block-device', devmajor: 8, devminor: 0 }]],
      ['FIFO', (m) => [{ name: m, type: 'fifo' }]],
    ]),
  );

  suite.attack('manifest-escape', async () => {
    const blob = await upload(h.acme(), new TextEncoder().encode('payload'));
    const file = (path: string) => ({ type: 'file', path, digest: blob.digest, size: blob.size });
    const cases: [string, (m: string) => unknown[]][] = [
      ['file ../../marker', (m) => [file(`../../${m}`)]],
      ['file /tmp/marker', (m) => [file(`/tmp/${m}`)]],
      [
        'symlink to / then a file through it',
        (m) => [{ type: 'symlink', path: 'l', target: '/' }, file(`l/tmp/${m}`)],
      ],
      [
        'symlink ../.. then a file through it',
        (m) => [{ type: 'symlink', path: 'up', target: '../..' }, file(`up/${m}`)],
      ],
      ['directory ..', (m) => [{ type: 'dir', path: '..' }, file(`../${m}`)]],
    ];
    return Promise.all(
      cases.map(async ([what, entries]) => {
        const m = mark();
        const manifest = new TextEncoder().encode(JSON.stringify({ version: 1, entries: entries(m) }));
        return refusedInput(h, what, m, { tree: await upload(h.acme(), manifest) });
      }),
    );
  });

  suite.attack('manifest-size-lie', async () => {
    const big = await upload(h.acme(), new Uint8Array(randomBytes(1 << 20)));
    const lie = (n: number): unknown[] =>
      Array.from({ length: n }, (_, i) => ({ type: 'file', path: `f${i}`, digest: big.digest, size: 1 }));
    const tries: Try[] = [];
    for (const [what, n] of [
      ['one entry: size 1, a 1 MiB blob', 1],
      ['2000 entries: size 1 each, the same 1 MiB blob', 2000],
    ] as const) {
      const manifest = new TextEncoder().encode(JSON.stringify({ version: 1, entries: lie(n) }));
      tries.push(await refusedInput(h, what, mark(), { tree: await upload(h.acme(), manifest) }));
    }
    return tries;
  });

  suite.attack('output-link-oracle', async () => {
    const farm = h.farm();
    const work = join(farm.dataDir, 'work-0');
    // The rival's input blob is now in the builder's blob cache, at a path the attacker can guess.
    const secret = await upload(
      h.rival(),
      new TextEncoder().encode(`rival ${randomBytes(8).toString('hex')}`),
    );
    const manifest = new TextEncoder().encode(
      JSON.stringify({ version: 1, entries: [{ type: 'file', path: 's', ...secret }] }),
    );
    const warm = await h.run(h.rival(), { argv: ['true'], tree: await upload(h.rival(), manifest) });
    if (warm.job?.state !== 'succeeded') throw new Error(`rival's job: ${JSON.stringify(warm.job)}`);
    const pairs: [string, string, string][] = [
      ['/etc/passwd', 'l/etc/passwd', 'l/etc/kiln-no-such-file'],
      [
        "the rival's cached blob",
        `l${work}/blobs/rival/${secret.digest}`,
        `l${work}/blobs/rival/${'0'.repeat(64)}`,
      ],
      ["the builder's config", `d/x${farm.dataDir}/builder-0.toml`, `d/x${farm.dataDir}/builder-9.toml`],
    ];
    // The probe is only worth something if the first path of each pair exists on the host.
    for (const [what, exists] of pairs)
      if (!existsSync(exists.replace(/^(l|d\/x)/, '')))
        throw new Error(`${what}: ${exists} does not exist on the host, so the pair proves nothing`);
    const outputs = pairs.flatMap(([, a, b]) => [a, b]);
    const tries: Try[] = [];
    for (const inlineResult of [true, false]) {
      const ran = await h.run(h.acme(), {
        argv: ['sh', '-c', 'ln -s / l && mkdir d && ln -s / d/x'],
        outputs,
        inlineResult,
      });
      const job = ran.job as {
        id: string;
        state: string;
        rejectedOutputs: { path: string; reason: string }[];
        missingOutputs: string[];
        result?: { files: { path: string }[] };
      } | null;
      if (job?.state !== 'succeeded') throw new Error(`the probe job: ${JSON.stringify(ran.job)}`);
      const packed = (await outputEntries(h.acme(), job.id)).map((e) => e.name.replace(/\/$/, ''));
      const answer = (p: string): string =>
        JSON.stringify({
          rejected: job.rejectedOutputs.find((r) => r.path === p)?.reason ?? null,
          missing: job.missingOutputs.includes(p),
          inline: job.result?.files.some((f) => f.path === p) ?? false,
          packed: packed.includes(p),
        });
      for (const [what, exists, absent] of pairs) {
        const same = answer(exists) === answer(absent);
        tries.push(
          tried(
            `${what} vs an absent file (${inlineResult ? 'inline result' : 'outputs tar'})`,
            same,
            same ? answer(exists) : `${answer(exists)} ≠ ${answer(absent)}`,
          ),
        );
      }
    }
    return tries;
  });

  suite.attack('special-outputs-dropped', async () => {
    const probe = [
      'import os, socket',
      'os.mkfifo("fifo")',
      's = socket.socket(socket.AF_UNIX); s.bind("sock")',
      'os.symlink("/etc/passwd", "link-out")',
      'open("real", "w").write("x"); os.symlink("real", "link-in")',
    ].join('\n');
    const declared = ['fifo', 'sock', 'link-out', 'link-in'];
    const tries: Try[] = [];
    for (const inlineResult of [true, false]) {
      const ran = await h.run(h.acme(), {
        argv: ['/usr/bin/python3', 'p.py'],
        inline: [{ path: 'p.py', data: b64(probe) }],
        outputs: declared,
        inlineResult,
      });
      const job = ran.job as {
        id: string;
        state: string;
        rejectedOutputs: { path: string; reason: string }[];
      } | null;
      if (job?.state !== 'succeeded')
        throw new Error(`the probe job: ${JSON.stringify(ran.job)} ${ran.stderr}`);
      const packed = await outputEntries(h.acme(), job.id);
      for (const p of declared) {
        const r = job.rejectedOutputs.find((x) => x.path === p);
        const e = packed.find((x) => x.name === p);
        // Either reported as not brought back, or brought back as what it is (a link inside the tree).
        const told = r?.reason ?? (e ? `brought back as a ${e.type} to ${e.linkname ?? ''}` : undefined);
        const honest = r !== undefined || (p === 'link-in' && e?.type === 'symlink' && e.linkname === 'real');
        tries.push(
          tried(
            `${p} (${inlineResult ? 'inline result' : 'outputs tar'})`,
            honest,
            told ?? 'dropped without a word',
          ),
        );
      }
    }
    return tries;
  });
});

suite.finish();
