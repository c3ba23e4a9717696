/** The configuration sections every farm process shares (gateway and builder): Redis and the store. */
import { z } from 'zod';

/** Where the farm's Redis is; shared by gateway and builder configs. */
export const redisConfigSchema = z
  .object({
    url: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL'),
    /** Key prefix of this farm. @default "kiln" */
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/)
      .default('kiln'),
  })
  .strict();

export const storageConfigSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('local'), dir: z.string().min(1) }).strict(),
  z
    .object({
      type: z.literal('s3'),
      bucket: z.string().min(1),
      /** Key prefix inside the bucket. @default "" */
      prefix: z.string().default(''),
      /** @default "us-east-1" */
      region: z.string().default('us-east-1'),
      /** For S3-compatible stores. */
      endpoint: z.string().url().optional(),
      accessKeyId: z.string().optional(),
      secretAccessKey: z.string().optional(),
    })
    .strict(),
]);
export type StorageConfig = z.infer<typeof storageConfigSchema>;
