/**
 * Hostile tenant against other tenants and the action cache: `acme` goes after `rival`'s jobs,
 * logs, outputs, blobs and cache scope, and tries to write the action cache (its own scope with
 * forged fields, a shared scope it only reads, store paths, a failed job, a poisoned blob).
 * A real farm; every "refused" is what the gateway or builder answered.
 */
import { before, describe } from 'node:test';
import { createHash, randomBytes } from 'node:crypto';
import { api, codeOf, type Client } from '../helpers/http.ts';
import { b64, jobError, said, useHostileFarm } from './farm.ts';
import { hostileSuite, tried, type Try } from './tally.ts';

const suite = hostileSuite('tenants');
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

interface Created {
  job: { id: string; state: string };
  token: string;
  action?: string;
}

describe('hostile tenant: other tenants and the action cache', { concurrency: 4, timeout: 240_000 }, () => {
  const h = useHostileFarm({
    // ci writes the shared scope "main"; acme only reads it; rival's scope is its own.
    cache: { shared: [{ scope: 'main', writers: ['ci'], readers: ['acme'] }] },
  });
  const post = async (who: Client, spec: unknown, wait = 0): Promise<{ status: number; body: Created }> => {
    const r = await api(who, `/api/v1/jobs${wait ? `?wait=${wait}` : ''}`, { method: 'POST', json: spec });
    return { status: r.status, body: r.body as Created };
  };
  /** A cacheable spec unique to this run. */
  const cacheable = (tag: string): Record<string, unknown> => ({
    argv: ['sh', '-c', 'cat in.txt; echo built > out.txt'],
    inline: [{ path: 'in.txt', data: b64(`${tag} ${randomBytes(8).toString('hex')}\n`) }],
    outputs: ['out.txt'],
    cache: true,
    inlineResult: true,
  });

  let done: Created; // a finished rival job with outputs and a log
  let running: Created; // a running rival job
  let mine: Created; // one of acme's own, for its job token
  before(async () => {
    const rival = h.rival();
    done = (await post(rival, { argv: ['sh', '-c', 'echo rival-secret; echo s > o'], outputs: ['o'] }, 30))
      .body;
    running = (await post(rival, { argv: ['sleep', '120'] })).body;
    mine = (await post(h.acme(), { argv: ['true'] }, 30)).body;
    if (done.job.state !== 'succeeded' || !running.job || !mine.job)
      throw new Error(`setup: ${JSON.stringify({ done, running, mine })}`);
  });

  suite.attack('cross-tenant-jobs', async () => {
    const acme = h.acme();
    const asJob: Client = { url: acme.url, token: mine.token };
    const id = done.job.id;
    const tries: Try[] = [];
    const reads: [string, Client, string, string][] = [
      ['GET the job', acme, 'GET', `/api/v1/jobs/${id}`],
      ['long-poll the job', acme, 'GET', `/api/v1/jobs/${id}?wait=1`],
      ['read its log', acme, 'GET', `/api/v1/jobs/${id}/logs`],
      ['follow its log', acme, 'GET', `/api/v1/jobs/${id}/logs?follow=1`],
      ['download its outputs', acme, 'GET', `/api/v1/jobs/${id}/outputs`],
      ['cancel its running job', acme, 'POST', `/api/v1/jobs/${running.job.id}/cancel`],
      ['delete its job', acme, 'DELETE', `/api/v1/jobs/${id}`],
      ["GET it with acme's own job token", asJob, 'GET', `/api/v1/jobs/${id}`],
      ["read its log with acme's job token", asJob, 'GET', `/api/v1/jobs/${id}/logs`],
      ["cancel it with acme's job token", asJob, 'POST', `/api/v1/jobs/${running.job.id}/cancel`],
      [
        'drain the builder (admin only)',
        acme,
        'POST',
        `/api/v1/builders/${[...h.farm().builderIds.values()][0]}/drain`,
      ],
    ];
    for (const [what, who, method, path] of reads) {
      const r = await api(who, path, { method });
      const text = JSON.stringify(r.body);
      const refused = [401, 403, 404].includes(r.status) && !text.includes('rival-secret');
      tries.push(tried(what, refused, said(r.status, r.body)));
    }
    const still = await api(h.rival(), `/api/v1/jobs/${running.job.id}`);
    tries.push(
      tried(
        "rival's job still running after acme's cancels",
        (still.body as { state?: string }).state === 'running',
        (still.body as { state?: string }).state,
      ),
    );
    const kept = await api(h.rival(), `/api/v1/jobs/${id}`);
    tries.push(tried("rival's job still there after acme's delete", kept.status === 200, kept.status));
    const board = await api(acme, '/api/v1/dashboard');
    const seen = JSON.stringify(board.body);
    tries.push(
      tried(
        "rival's jobs on acme's dashboard",
        board.status === 200 && !seen.includes(id) && !seen.includes(running.job.id),
        board.status === 200 ? 'not listed' : said(board.status, board.body),
      ),
    );
    await api(h.rival(), `/api/v1/jobs/${running.job.id}/cancel`, { method: 'POST' });
    return tries;
  });

  suite.attack('cross-tenant-blobs', async () => {
    const acme = h.acme();
    const bytes = new Uint8Array(randomBytes(4096));
    const digest = sha(bytes);
    const up = await api(h.rival(), `/api/v1/blobs/${digest}`, { method: 'PUT', body: bytes });
    if (up.status !== 201) throw new Error(`rival's upload: ${up.status}`);
    // The rival uses it, so it is in the builder's blob cache too.
    const manifest = (d: string): Uint8Array<ArrayBuffer> =>
      new TextEncoder().encode(
        JSON.stringify({
          version: 1,
          entries: [{ type: 'file', path: 's', digest: d, size: bytes.byteLength }],
        }),
      );
    const putManifest = async (who: Client): Promise<{ digest: string; size: number }> => {
      const m = manifest(digest);
      const r = await api(who, `/api/v1/blobs/${sha(m)}`, { method: 'PUT', body: m });
      if (r.status !== 201) throw new Error(`manifest upload: ${r.status}`);
      return { digest: sha(m), size: m.byteLength };
    };
    const warm = await h.run(h.rival(), { argv: ['cat', 's'], tree: await putManifest(h.rival()) });
    if (warm.job?.state !== 'succeeded') throw new Error(`rival's job: ${JSON.stringify(warm.job)}`);

    const get = await api(acme, `/api/v1/blobs/${digest}`);
    const missing = await api(acme, '/api/v1/blobs/missing', {
      method: 'POST',
      json: { blobs: [{ digest, size: bytes.byteLength }] },
    });
    const asInput = await h.run(acme, { argv: ['cat', 'x'], input: { digest, size: bytes.byteLength } });
    const asTree = await h.run(acme, { argv: ['cat', 's'], tree: await putManifest(acme) });
    const gotBytes = (s: string): boolean => s.includes(Buffer.from(bytes).toString('latin1').slice(0, 32));
    return [
      tried("GET rival's blob", get.status === 404, said(get.status, get.body)),
      tried(
        'blobs/missing about it (an oracle?)',
        missing.status === 200 && (missing.body as { missing: string[] }).missing.includes(digest),
        JSON.stringify((missing.body as { missing?: string[] }).missing),
      ),
      tried(
        'use it as an input tar',
        (codeOf(asInput.body) === 'ERR_BLOBS_MISSING' || jobError(asInput.job) === 'ERR_BLOBS_MISSING') &&
          !gotBytes(asInput.stdout),
        asInput.job
          ? `${String(asInput.job.state)} ${jobError(asInput.job) ?? ''}`
          : said(asInput.status, asInput.body),
      ),
      tried(
        "use it in a manifest (it is in the builder's cache)",
        jobError(asTree.job) === 'ERR_BLOBS_MISSING' && !gotBytes(asTree.stdout),
        `${String(asTree.job?.state)} ${jobError(asTree.job) ?? ''}`,
      ),
    ];
  });

  suite.attack('cross-tenant-cache', async () => {
    const acme = h.acme();
    const hit = async (who: Client, spec: unknown): Promise<{ status: number; body: Created }> => {
      const first = await post(who, spec, 30);
      const again = await post(who, spec, 30);
      // Without a working cache these tries prove nothing: the writer's own repeat must be a hit.
      if (first.body.job.state !== 'succeeded' || again.body.job.state !== 'cached' || !first.body.action)
        throw new Error(`the result was not cached: ${JSON.stringify([first.body, again.body])}`);
      return first;
    };
    const privateSpec = cacheable('rival-private');
    const rivals = await hit(h.rival(), privateSpec);
    const byKey = await api(acme, `/api/v1/actions/${rivals.body.action}`);
    const same = await post(acme, privateSpec, 30);
    const sharedSpec = cacheable('ci-shared');
    await hit(h.ci(), sharedSpec);
    const reader = await post(acme, sharedSpec, 30);
    if (reader.body.job.state !== 'cached') throw new Error('a reader of "main" did not get its hit');
    const outsider = await post(h.rival(), sharedSpec, 30);
    return [
      tried("GET rival's private action by its key", byKey.status === 404, said(byKey.status, byKey.body)),
      tried(
        "submit rival's private action (a hit would be read from its scope)",
        same.status === 201 && same.body.job.state !== 'cached',
        `${same.status} ${same.body.job?.state}`,
      ),
      tried(
        'read the shared scope "main" without being its reader',
        outsider.status === 201 && outsider.body.job.state !== 'cached',
        `${outsider.status} ${outsider.body.job?.state}`,
      ),
    ];
  });

  suite.attack('cache-write', async () => {
    const acme = h.acme();
    const tries: Try[] = [];
    const base = cacheable('acme-forged');
    for (const [what, extra] of [
      ['a forged result field', { result: { stdout: b64('pwned'), stderr: '', files: [] } }],
      ['a forged state: cached', { state: 'cached' }],
      ['a forged action key', { action: 'a'.repeat(64) }],
      ['a forged cache scope', { cacheScope: 's:main' }],
      ['a forged tenant', { tenant: 'rival' }],
    ] as const) {
      const r = await api(acme, '/api/v1/jobs', { method: 'POST', json: { ...base, ...extra } });
      tries.push(
        tried(what, r.status === 400 && codeOf(r.body) === 'ERR_VALIDATION', said(r.status, r.body)),
      );
    }
    for (const path of [
      '/api/v1/blobs/..%2F..%2Fac%2Fx',
      `/api/v1/actions/${'b'.repeat(64)}`,
      '/api/v1/ac/x',
      '/api/v1/cache/x',
    ]) {
      const r = await api(acme, path, { method: 'PUT', body: 'x' });
      tries.push(
        tried(`PUT ${path.slice(0, 40)}`, [400, 404, 405].includes(r.status), said(r.status, r.body)),
      );
    }
    // A failed job is never cached: the same failing action runs again.
    const failing = { ...cacheable('acme-fails'), argv: ['sh', '-c', 'echo built > out.txt; exit 1'] };
    await post(acme, failing, 30);
    const rerun = await post(acme, failing, 30);
    tries.push(
      tried('cache a failed job', rerun.status === 201 && rerun.body.job.state === 'failed', rerun.status),
    );
    // A reader of the shared scope does not write it: its result is not the writer's hit.
    const shared = cacheable('acme-into-main');
    const wrote = await post(acme, shared, 30);
    const writer = await post(h.ci(), shared, 30);
    tries.push(
      tried(
        'write the shared scope "main" as a reader',
        wrote.body.job.state === 'succeeded' && writer.status === 201 && writer.body.job.state !== 'cached',
        `acme ${wrote.body.job.state}; ci then ${writer.status} ${writer.body.job?.state}`,
      ),
    );
    // A blob is stored under its digest only if the body hashes to it.
    const real = new TextEncoder().encode('the real content');
    const poison = await api(acme, `/api/v1/blobs/${sha(real)}`, { method: 'PUT', body: 'poison' });
    tries.push(
      tried(
        'store a blob under a digest it does not have',
        poison.status === 400 && codeOf(poison.body) === 'ERR_DIGEST_MISMATCH',
        said(poison.status, poison.body),
      ),
    );
    return tries;
  });
});

suite.finish();
