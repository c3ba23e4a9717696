/** A {@link BlobStore} that counts the bytes a builder moves to and from the store. */
import type { BlobStore } from '../../storage/port.ts';
import type { BuilderMetrics } from './metrics.ts';

function counting(body: ReadableStream<Uint8Array>, add: (n: number) => void): ReadableStream<Uint8Array> {
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, ctl) {
        add(chunk.byteLength);
        ctl.enqueue(chunk);
      },
    }),
  );
}

export function meteredStore(store: BlobStore, m: BuilderMetrics): BlobStore {
  return {
    kind: store.kind,
    stat: (key) => store.stat(key),
    async get(key) {
      const body = await store.get(key);
      return body ? counting(body, (n) => m.bytesMoved('in', n)) : null;
    },
    put(key, body, size) {
      if (body instanceof Uint8Array) {
        m.bytesMoved('out', body.byteLength);
        return store.put(key, body, size);
      }
      return store.put(
        key,
        counting(body, (n) => m.bytesMoved('out', n)),
        size,
      );
    },
    delete: (key) => store.delete(key),
    list: (prefix) => store.list(prefix),
    presignPut: (key, opts) => store.presignPut(key, opts),
    presignGet: (key, opts) => store.presignGet(key, opts),
  };
}
