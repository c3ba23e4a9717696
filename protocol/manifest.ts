/**
 * An input tree, content-addressed per file: the client uploads only the file blobs the farm
 * lacks, and the manifest (itself a blob, JSON) names every entry. Paths are relative POSIX paths
 * of the job directory; the builder checks them again before it writes anything.
 */
import { z } from 'zod';

const path = z.string().min(1).max(4096);
const digest = z.string().regex(/^[0-9a-f]{64}$/);

export const manifestEntrySchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('file'),
      path,
      digest,
      size: z.number().int().min(0),
      executable: z.boolean().default(false),
    })
    .strict(),
  z.object({ type: z.literal('dir'), path }).strict(),
  z.object({ type: z.literal('symlink'), path, target: z.string().min(1).max(4096) }).strict(),
]);

export const manifestSchema = z
  .object({
    version: z.literal(1),
    /** Sorted by path; directories may be implied by the files in them. */
    entries: z.array(manifestEntrySchema).max(1_000_000),
  })
  .strict();

export type Manifest = z.infer<typeof manifestSchema>;
export type ManifestEntry = z.infer<typeof manifestEntrySchema>;

/**
 * Most blobs one `POST /api/v1/blobs/missing` may ask about; a client with more asks in several
 * requests. Bounds the work (store lookups, presigning) one request can cost the gateway.
 */
export const MISSING_BLOBS_MAX = 4096;
