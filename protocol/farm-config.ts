/** The configuration sections every farm process shares (gateway and builder): Redis and the store. */
import { z } from 'zod';

/**
 * TLS to Redis (`rediss://`): the CA that signed the server's certificate, and this process's
 * client certificate (Redis started with `tls-auth-clients yes` asks for one). PEM files.
 */
export const redisTlsSchema = z.strictObject({
  /** CA bundle the server's certificate must chain to. @default the system's roots */
  ca: z.string().min(1).optional(),
  /** This process's client certificate. */
  cert: z.string().min(1).optional(),
  /** Its private key. */
  key: z.string().min(1).optional(),
  /** Name checked against the server's certificate. @default the URL's host */
  servername: z.string().min(1).optional(),
});
export type RedisTls = z.infer<typeof redisTlsSchema>;

/** Where the farm's Redis is; shared by gateway and builder configs. */
export const redisConfigSchema = z
  .object({
    url: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL'),
    /**
     * Redis Cluster: `true`, or more seed nodes (`host:port`) besides the URL's host; the URL's
     * scheme, user and password apply to every node. @default false (one server)
     */
    cluster: z
      .union([
        z.boolean(),
        z
          .array(z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be host:port'))
          .min(1),
      ])
      .default(false),
    /** Key prefix of this farm. @default "kiln" */
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/)
      .default('kiln'),
    /** ACL user (`kiln redis acl` makes one per role). @default the URL's, else "default" */
    username: z.string().min(1).optional(),
    /** Its password (better: `passwordFile`, or KILN_REDIS__PASSWORD). @default the URL's */
    password: z.string().min(1).optional(),
    /** A file holding the password (one line; the trailing newline is ignored). */
    passwordFile: z.string().min(1).optional(),
    /** Client certificate and CA for `rediss://`. */
    tls: redisTlsSchema.optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.password !== undefined && r.passwordFile !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['passwordFile'],
        message: 'give password or passwordFile, not both',
      });
    if (r.tls && (r.tls.cert === undefined) !== (r.tls.key === undefined))
      ctx.addIssue({
        code: 'custom',
        path: ['tls'],
        message: 'a client certificate needs both cert and key',
      });
    if (r.tls && typeof r.url === 'string' && !r.url.startsWith('rediss://'))
      ctx.addIssue({ code: 'custom', path: ['tls'], message: 'is used only with a rediss:// url' });
  });
export type RedisConfig = z.infer<typeof redisConfigSchema>;

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
      /**
       * PEM CA bundle the store's HTTPS certificate must chain to, instead of the system's roots
       * (a store on a private PKI). Builders and gateways use it; clients that upload or download
       * through presigned URLs need it too (`KILN_TLS_STORE_CA`, or `KILN_TLS_CA`).
       */
      ca: z.string().min(1).optional(),
      accessKeyId: z.string().optional(),
      secretAccessKey: z.string().optional(),
    })
    .strict(),
]);
export type StorageConfig = z.infer<typeof storageConfigSchema>;
