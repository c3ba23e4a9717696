/**
 * Toolchains and presets on the wire. A toolchain is an archive (tar or gzip tar) named by its
 * SHA-256; a preset `name@platform` points at one and says where its compiler is inside it.
 */
import { z } from 'zod';
import { PLATFORMS, type Platform } from './job.ts';

/** A lower-case hex SHA-256. */
export const toolchainDigestSchema = z
  .string()
  .regex(/^[0-9a-f]{64}$/, 'must be a lower-case hex SHA-256 digest');

/** The name part of a preset: lower case, digits and `._+-`, starting with a letter or digit. */
export const presetNameSchema = z
  .string()
  .min(1)
  .max(100)
  .regex(
    /^[a-z0-9][a-z0-9._+-]*$/,
    'must be lower-case letters, digits and . _ + -, starting with a letter or digit',
  );

/**
 * Where the compiler is inside the unpacked archive: an absolute POSIX path (the archive's
 * root is `/` in the sandbox) without `..`, `.` or empty segments.
 */
export const compilerPathSchema = z
  .string()
  .min(2)
  .max(4096)
  .refine(
    (p) =>
      p.startsWith('/') &&
      !p.includes('\0') &&
      !p.includes('\\') &&
      p
        .slice(1)
        .split('/')
        .every((s) => s !== '' && s !== '.' && s !== '..'),
    { message: 'must be an absolute path inside the archive, such as /usr/bin/gcc (no .., no //)' },
  );

/**
 * A target a toolchain compiles for, as clang names it (`x86_64-pc-windows-msvc`,
 * `arm64-apple-macos11`, `aarch64-linux-gnu`): letters, digits and `._-`.
 */
export const targetSchema = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be a target triple such as x86_64-pc-windows-msvc');

/** The targets a preset is published for (what its clients' compiles may name). */
export const targetsSchema = z.array(targetSchema).max(32);

/** Who published a preset or first uploaded a toolchain. */
export const ownerSchema = z.object({ sub: z.string().min(1), tenant: z.string().min(1) }).strict();
export type ToolchainOwner = z.infer<typeof ownerSchema>;

/** A preset as stored and as `GET /api/v1/presets` returns it. */
export const presetRecordSchema = z
  .object({
    name: presetNameSchema,
    platform: z.enum(PLATFORMS),
    digest: toolchainDigestSchema,
    /** Bytes of the archive. */
    size: z.number().int().min(0),
    compiler: compilerPathSchema,
    /** The targets it compiles for; absent or empty: the compiler's own (published before targets existed, or a gcc). */
    targets: targetsSchema.optional(),
    owner: ownerSchema,
    /** When this version of the preset was published (ISO 8601). */
    createdAt: z.string(),
  })
  .strict();
export type PresetRecord = z.infer<typeof presetRecordSchema>;

/** `PUT /api/v1/presets/{name@platform}` body. */
export const presetPutSchema = z
  .object({ digest: toolchainDigestSchema, compiler: compilerPathSchema, targets: targetsSchema.optional() })
  .strict();
export type PresetPut = z.infer<typeof presetPutSchema>;

/** `POST /api/v1/toolchains/{sha256}/upload` body: the archive's size, so a store can presign it. */
export const toolchainUploadSchema = z.object({ size: z.number().int().min(0) }).strict();

/** `POST /api/v1/toolchains/{sha256}/upload` answer. */
export type ToolchainUploadAnswer =
  | { exists: true; size: number }
  | {
      exists: false;
      /** Where to PUT the archive: a presigned store URL, or a gateway path (send the kiln credential). */
      upload: { method: 'PUT'; url: string; headers: Record<string, string> };
    };

/** `GET /api/v1/presets` answer, sorted by `name@platform`. */
export interface PresetList {
  presets: PresetRecord[];
}

/** A parsed `name@platform`. */
export interface PresetId {
  name: string;
  platform: Platform;
}

/**
 * Splits `name@platform` and checks both halves; null when it is not a valid preset id.
 * A preset id has exactly one `@`.
 */
export function parsePresetId(id: string): PresetId | null {
  const parts = id.split('@');
  if (parts.length !== 2) return null;
  const [name, platform] = parts as [string, string];
  if (!presetNameSchema.safeParse(name).success) return null;
  if (!(PLATFORMS as readonly string[]).includes(platform)) return null;
  return { name, platform: platform as Platform };
}

/** `name@platform` of a preset. */
export function presetId(p: { name: string; platform: string }): string {
  return `${p.name}@${p.platform}`;
}

/** Why a preset id is not valid, for error messages. */
export function presetIdProblem(id: string): string {
  return (
    `${JSON.stringify(id)} is not a preset: write NAME@PLATFORM, NAME of lower-case letters, digits ` +
    `and . _ + - (such as gcc-12), PLATFORM one of ${PLATFORMS.join(', ')}`
  );
}
