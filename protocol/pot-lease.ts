/** The lease of one FreeBSD builder pot, as the builder keeps it in its state file and in Redis. */
import { z } from 'zod';

export const potLeaseSchema = z
  .object({
    /** The pot's name. */
    name: z.string().regex(/^[A-Za-z0-9_-]{1,200}$/),
    /** The pool instance that made it (the builder's configured name). */
    owner: z.string().min(1).max(200),
    createdAt: z.number().int().min(0),
    /** After this (ms since epoch) anyone on the host may destroy the pot. */
    expiresAt: z.number().int().min(0),
  })
  .strict();

export type PotLease = z.infer<typeof potLeaseSchema>;
