/** Reading a Web stream in parts of a given size (for S3 multipart uploads). Runtime-neutral. */
import { KilnError } from '../protocol/errors.ts';

/** Reads a stream in parts of a given size, checking the total against a declared size. */
export class PartReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #size: number | undefined;
  #rest: Uint8Array | null = null;
  #total = 0;

  constructor(reader: ReadableStreamDefaultReader<Uint8Array>, size: number | undefined) {
    this.#reader = reader;
    this.#size = size;
  }

  /** Up to `limit` bytes; `done` when the stream has ended (then `bytes` may be short or empty). */
  async next(limit: number): Promise<{ bytes: Uint8Array; done: boolean }> {
    const chunks: Uint8Array[] = [];
    let n = 0;
    let done = false;
    if (this.#rest) {
      chunks.push(this.#rest);
      n = this.#rest.byteLength;
      this.#rest = null;
    }
    while (n < limit) {
      const r = await this.#reader.read();
      if (r.done) {
        done = true;
        break;
      }
      if (!(r.value instanceof Uint8Array))
        throw new TypeError('put: the stream must yield Uint8Array chunks');
      chunks.push(r.value);
      n += r.value.byteLength;
      this.#total += r.value.byteLength;
      if (this.#size !== undefined && this.#total > this.#size)
        throw sizeMismatch('', this.#size, this.#total);
    }
    if (done && this.#size !== undefined && this.#total !== this.#size) {
      throw sizeMismatch('', this.#size, this.#total);
    }
    const bytes = new Uint8Array(Math.min(n, limit));
    let at = 0;
    for (const c of chunks) {
      const take = Math.min(c.byteLength, bytes.byteLength - at);
      bytes.set(take === c.byteLength ? c : c.subarray(0, take), at);
      at += take;
      if (take < c.byteLength) this.#rest = c.subarray(take);
    }
    return { bytes, done: done && this.#rest === null };
  }

  async cancel(reason: unknown): Promise<void> {
    await this.#reader.cancel(reason).catch(() => {});
  }
}

export function sizeMismatch(key: string, declared: number, actual: number): KilnError {
  const what = key ? `put ${key}` : 'put';
  return new KilnError(
    'ERR_BAD_REQUEST',
    `${what}: declared size ${declared} but got ${actual} bytes or more`,
  );
}
