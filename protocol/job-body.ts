/**
 * The binary job body (`Content-Type: application/vnd.kiln.job`): a job's spec and its inline
 * files' bytes in one request body, so that no file travels as base64 or through a JSON parser
 * (kiln cc sends a compile's preprocessed source, hundreds of KB, this way). docs/api.md:
 *
 *   4 bytes  N: the length of the spec in bytes (unsigned, big-endian)
 *   N bytes  the spec: UTF-8 JSON, as the JSON body of POST /api/v1/jobs, except that each
 *            `inline` entry is {path, size, digest, executable?} (digest: SHA-256 of its bytes)
 *   then     the inline files' bytes, one after the other in the order of `inline`, nothing between
 *
 * The body is exactly 4 + N + the sum of the sizes; anything else is refused whole.
 */
import { sha256Hex } from './digest.ts';
import { KilnError } from './errors.ts';
import { framedSpecSchema, type InlineInput, type JobSpec } from './job.ts';
import { parseOrThrow } from './validate.ts';

/** The content type of a binary job body. */
export const JOB_BODY_TYPE = 'application/vnd.kiln.job';

/** An inline file to send: its bytes and their SHA-256 (the sender has a fast hash at hand). */
export interface InlineFileOut {
  path: string;
  data: Uint8Array;
  digest: string;
  executable?: boolean;
}

/**
 * A binary job body: the spec (without `inline`) and the files. The parts are returned in order,
 * so a sender can write them without joining them first.
 */
export function encodeJobBody(spec: Record<string, unknown>, files: readonly InlineFileOut[]): Uint8Array[] {
  const inline = files.map((f) => ({
    path: f.path,
    size: f.data.byteLength,
    digest: f.digest,
    ...(f.executable ? { executable: true } : {}),
  }));
  const json = new TextEncoder().encode(JSON.stringify(files.length > 0 ? { ...spec, inline } : spec));
  const head = new Uint8Array(4 + json.byteLength);
  new DataView(head.buffer).setUint32(0, json.byteLength);
  head.set(json, 4);
  return [head, ...files.map((f) => f.data)];
}

const refused = (message: string): KilnError => new KilnError('ERR_BAD_REQUEST', `job body: ${message}`);

/**
 * The job spec of a binary body, its inline files as views into `body` (not copied), each one's
 * size and digest checked against its bytes. Throws ERR_BAD_REQUEST for a body that is not the
 * framing (truncated, or bytes left over), ERR_BAD_JSON / ERR_VALIDATION for the spec, and
 * ERR_DIGEST_MISMATCH for a file whose bytes are not the ones named.
 */
export async function decodeJobBody(body: Uint8Array): Promise<JobSpec> {
  if (body.byteLength < 4) throw refused(`${body.byteLength} bytes, shorter than its 4-byte header`);
  const n = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(0);
  if (4 + n > body.byteLength)
    throw refused(`truncated: the header announces a spec of ${n} bytes, ${body.byteLength - 4} follow`);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body.subarray(4, 4 + n)));
  } catch (err) {
    throw new KilnError('ERR_BAD_JSON', `job body: malformed JSON spec: ${(err as Error).message}`);
  }
  const { inline: entries, ...spec } = parseOrThrow(framedSpecSchema, json, 'job spec');
  if (!entries) {
    if (body.byteLength !== 4 + n)
      throw refused(`${body.byteLength - 4 - n} bytes follow a spec without inline files`);
    return spec;
  }
  let at = 4 + n;
  const total = entries.reduce((sum, e) => sum + e.size, 0);
  if (body.byteLength - at !== total)
    throw refused(
      `${body.byteLength - at < total ? 'truncated: ' : ''}the inline files' sizes add up to ${total} bytes, ` +
        `${body.byteLength - at} follow the spec`,
    );
  const views = entries.map((e) => body.subarray(at, (at += e.size)));
  const digests = await Promise.all(views.map((v) => sha256Hex(v)));
  const inline: InlineInput[] = entries.map((e, i) => {
    if (digests[i] !== e.digest)
      throw new KilnError(
        'ERR_DIGEST_MISMATCH',
        `job body: inline file ${e.path}: its ${e.size} bytes have SHA-256 ${digests[i]}, the spec names ${e.digest}`,
      );
    return { path: e.path, data: views[i]!, executable: e.executable, digest: e.digest };
  });
  return { ...spec, inline };
}
