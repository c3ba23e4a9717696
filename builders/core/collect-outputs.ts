/**
 * Packs a job's declared outputs and streams the tar from the job directory to the store: never
 * held whole in the builder, never following a link (builders/core/output-path.ts).
 *
 * The tar is deterministic and every process of the job is gone by now, so it is produced
 * twice: once to learn its digest and size (the store key is the digest), then again into the
 * store, hashed on the way; a second pass that differs fails the upload before it is visible.
 * Memory stays at a few read buffers whatever the outputs weigh.
 */
import { createHash } from 'node:crypto';
import { realpath } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { KilnError } from '../../protocol/errors.ts';
import type { BlobRef } from '../../protocol/job.ts';
import type { BlobStore } from '../../storage/port.ts';
import { packTree } from '../../archive/pack.ts';
import { resolveOutput, unsupportedKind, type RejectedOutput } from './output-path.ts';
import { retryStore } from './store-retry.ts';

export interface CollectedOutputs {
  outputs: BlobRef | null;
  missing: string[];
  /** Declared outputs that exist but cannot be brought back (links out, FIFOs, sockets…). */
  rejected: RejectedOutput[];
}

/** Sorts the declared outputs into packable, missing and rejected ones. */
export async function classifyOutputs(
  root: string,
  paths: string[],
): Promise<{ ok: string[]; missing: string[]; rejected: RejectedOutput[] }> {
  const ok: string[] = [];
  const missing: string[] = [];
  const rejected: RejectedOutput[] = [];
  for (const path of paths) {
    const r = await resolveOutput(root, path);
    if (r.kind === 'missing') missing.push(path);
    else if (r.kind === 'rejected') rejected.push({ path, reason: r.reason });
    else {
      const why = r.st.isSymbolicLink() ? undefined : unsupportedKind(r.st);
      if (why) rejected.push({ path, reason: why });
      else ok.push(path);
    }
  }
  return { ok, missing, rejected };
}

/** Digest and size of a stream, failing once it passes `maxBytes`. */
async function measure(s: Readable, maxBytes: number): Promise<BlobRef> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of s as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > maxBytes) {
      s.destroy();
      throw new KilnError('ERR_TOO_LARGE', `the outputs are over limits.outputBytes (${maxBytes} bytes)`);
    }
    h.update(chunk);
  }
  return { digest: h.digest('hex'), size };
}

/** A pull-driven Web stream of `s` that errors at its end unless the bytes hash to `want`. */
function verified(s: Readable, want: BlobRef): ReadableStream<Uint8Array> {
  const it = (s as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const h = createHash('sha256');
  let size = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(ctl) {
        const r = await it.next();
        if (!r.done) {
          h.update(r.value);
          size += r.value.byteLength;
          ctl.enqueue(new Uint8Array(r.value.buffer, r.value.byteOffset, r.value.byteLength));
          return;
        }
        if (h.digest('hex') !== want.digest || size !== want.size)
          ctl.error(new KilnError('ERR_CONFLICT', 'the outputs changed while they were uploaded'));
        else ctl.close();
      },
      async cancel() {
        await it.return?.();
        s.destroy();
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * Stores the tar of `paths` under the job directory at `keyOf(digest)`; null outputs when
 * nothing was declared.
 * @throws KilnError ERR_TOO_LARGE when the tar would be over `maxBytes`.
 */
export async function collectOutputs(
  store: BlobStore,
  jobDir: string,
  paths: string[],
  keyOf: (digest: string) => string,
  maxBytes: number = Number.MAX_SAFE_INTEGER,
): Promise<CollectedOutputs> {
  if (paths.length === 0) return { outputs: null, missing: [], rejected: [] };
  const root = await realpath(jobDir);
  const { ok, missing, rejected } = await classifyOutputs(root, paths);
  const first = await packTree(root, ok);
  for (const s of first.skipped)
    rejected.push({ path: s, reason: 'is a link out of the tree or a special file' });
  const ref = await measure(first.stream, maxBytes);
  const key = keyOf(ref.digest);
  // Through a store outage the tar is packed and sent again from the start (store-retry.ts).
  await retryStore(`outputs ${ref.digest}`, async () => {
    if (await store.stat(key)) return;
    const second = await packTree(root, ok);
    await store.put(key, verified(second.stream, ref), ref.size);
  });
  return { outputs: ref, missing, rejected };
}
