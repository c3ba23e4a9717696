/**
 * Job tokens: the synchronous HS256 signer (protocol/token.ts) makes tokens that jose verifies,
 * and verification refuses a wrong key, a changed payload, another job or builder, another `typ`
 * or algorithm, and an expired token.
 */
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { decodeProtectedHeader, SignJWT } from 'jose';
import { JOB_TOKEN_TYP, peekJobToken, signJobToken, verifyJobToken } from '../../protocol/token.ts';

const KEY = new Uint8Array(randomBytes(32));
const CLAIMS = { jti: 'job-1', bid: 'b-1', sub: 'alice', tenant: 'acme' };

const invalid = (why: RegExp) => (err: unknown) =>
  (err as { code?: string }).code === 'ERR_TOKEN_INVALID' && why.test((err as Error).message);

describe('job tokens', () => {
  it('signs HS256 with the kiln typ, and jose verifies every claim', async () => {
    const before = Math.floor(Date.now() / 1000);
    const token = signJobToken(KEY, CLAIMS, 600);
    assert.deepEqual(decodeProtectedHeader(token), { alg: 'HS256', typ: JOB_TOKEN_TYP });
    const claims = await verifyJobToken(token, KEY, { jti: 'job-1', bid: 'b-1' });
    assert.deepEqual({ jti: claims.jti, bid: claims.bid, sub: claims.sub, tenant: claims.tenant }, CLAIMS);
    assert.ok(claims.exp >= before + 600 && claims.exp <= Math.floor(Date.now() / 1000) + 600);
    assert.equal(peekJobToken(token)?.bid, 'b-1');
  });

  it('gives the same signature as an HMAC-SHA256 over the signing input', () => {
    const token = signJobToken(KEY, CLAIMS, 60);
    const [h, p, sig] = token.split('.');
    const mac = createHmac('sha256', KEY).update(`${h}.${p}`).digest('base64url');
    assert.equal(sig, mac);
  });

  it('refuses a wrong key, a changed payload, another job or builder', async () => {
    const token = signJobToken(KEY, CLAIMS, 600);
    await assert.rejects(verifyJobToken(token, new Uint8Array(randomBytes(32))), invalid(/SIGNATURE/));
    const [h, , sig] = token.split('.');
    const other = Buffer.from(JSON.stringify({ ...CLAIMS, tenant: 'evil', exp: 9e9 })).toString('base64url');
    await assert.rejects(verifyJobToken(`${h}.${other}.${sig}`, KEY), invalid(/SIGNATURE/));
    await assert.rejects(verifyJobToken(token, KEY, { jti: 'job-2' }), invalid(/another job/));
    await assert.rejects(verifyJobToken(token, KEY, { bid: 'b-2' }), invalid(/another builder/));
  });

  it('refuses an expired token, another typ and another algorithm', async () => {
    await assert.rejects(verifyJobToken(signJobToken(KEY, CLAIMS, -120), KEY), invalid(/EXPIRED/));
    const jwt = (alg: string, typ: string) =>
      new SignJWT({ bid: 'b-1', tenant: 'acme' })
        .setProtectedHeader({ alg, typ })
        .setJti('job-1')
        .setSubject('alice')
        .setExpirationTime('10m')
        .sign(alg === 'HS256' ? KEY : new Uint8Array(randomBytes(64)));
    await assert.rejects(verifyJobToken(await jwt('HS256', 'JWT'), KEY), invalid(/CLAIM_VALIDATION/));
    await assert.rejects(verifyJobToken(await jwt('HS512', JOB_TOKEN_TYP), KEY), invalid(/ALG_NOT_ALLOWED/));
  });
});
