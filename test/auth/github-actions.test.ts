/**
 * GitHub-Actions-shaped tokens (claims and header as GitHub issues them, signed by a local JWKS
 * that stands in for token.actions.githubusercontent.com and serves its discovery document)
 * are accepted only under the configured owner/repository/ref rules; and a company IdP (a real
 * oidc-provider) and GitHub Actions work side by side as two `jwt` methods.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createAuthenticator } from '../../gateway/auth/authenticate.ts';
import type { AuthMethodConfig } from '../../gateway/auth/config.ts';
import { KilnError } from '../../protocol/errors.ts';
import { startJwksServer, type JwksServer } from '../helpers/jwks.ts';
import { AUDIENCE, startOidc, type Oidc } from '../helpers/oidc.ts';

const GATEWAY_AUDIENCE = 'https://kiln.acme.test';
let github: JwksServer;
let company: Oidc;
before(async () => {
  github = await startJwksServer();
  company = await startOidc();
});
after(async () => {
  await github.stop();
  await company.stop();
});

/** A token with the claims GitHub Actions puts in an OIDC token for a push to `ref`. */
function actionsToken(
  repo: string,
  ref = 'refs/heads/main',
  extra: Record<string, unknown> = {},
): Promise<string> {
  const [owner] = repo.split('/');
  const now = Math.floor(Date.now() / 1000);
  return github.sign(
    {
      jti: randomUUID(),
      sub: `repo:${repo}:ref:${ref}`,
      ref,
      sha: 'a'.repeat(40),
      repository: repo,
      repository_owner: owner,
      repository_owner_id: owner === 'acme' ? '1001' : '6666',
      repository_id: '424242',
      repository_visibility: 'private',
      run_id: '1',
      run_number: '1',
      run_attempt: '1',
      actor: 'octocat',
      actor_id: '1',
      workflow: 'CI',
      event_name: 'push',
      ref_type: ref.startsWith('refs/tags/') ? 'tag' : 'branch',
      ref_protected: 'true',
      workflow_ref: `${repo}/.github/workflows/ci.yml@${ref}`,
      job_workflow_ref: `${repo}/.github/workflows/ci.yml@${ref}`,
      runner_environment: 'github-hosted',
      nbf: now - 5,
      ...extra,
    },
    { aud: GATEWAY_AUDIENCE, typ: 'JWT' },
  );
}

/** The GitHub Actions method as docs/identity.md configures it (discovery, no jwksUrl). */
function actionsMethod(claims: Record<string, string | string[]>): AuthMethodConfig {
  return {
    type: 'jwt',
    issuer: github.issuer,
    audience: GATEWAY_AUDIENCE,
    tenantClaim: 'repository_owner',
    claims,
  };
}

const request = (token: string): Request =>
  new Request('http://gateway.test/api/v1/status', { headers: { authorization: `Bearer ${token}` } });

async function refused(
  auth: ReturnType<typeof createAuthenticator>,
  token: string,
  why: RegExp,
): Promise<void> {
  await assert.rejects(auth.authenticate(request(token)), (err: unknown) => {
    assert.ok(err instanceof KilnError);
    assert.equal(err.code, 'ERR_UNAUTHENTICATED');
    assert.match(err.message, why);
    return true;
  });
}

describe('GitHub Actions OIDC tokens', () => {
  const rules = {
    repository_owner: 'acme',
    repository_owner_id: '1001',
    ref: ['refs/heads/main', 'refs/tags/v*'],
    sub: 'repo:acme/*:ref:**',
  };

  it('accepts the configured owner on an allowed ref, tenant from repository_owner', async () => {
    const auth = createAuthenticator({ methods: [actionsMethod(rules)] });
    assert.deepEqual(await auth.authenticate(request(await actionsToken('acme/app'))), {
      sub: 'repo:acme/app:ref:refs/heads/main',
      tenant: 'acme',
      method: 'jwt',
      admin: false,
    });
    const tag = await auth.authenticate(request(await actionsToken('acme/lib', 'refs/tags/v1.2.0')));
    assert.equal(tag.sub, 'repo:acme/lib:ref:refs/tags/v1.2.0');
  });

  it('refuses another owner, another ref, a recycled owner name, and a spoofed sub', async () => {
    const auth = createAuthenticator({ methods: [actionsMethod(rules)] });
    await refused(auth, await actionsToken('mallory/app'), /claim "repository_owner" does not match/);
    await refused(auth, await actionsToken('acme/app', 'refs/heads/feature'), /claim "ref" does not match/);
    await refused(
      auth,
      await actionsToken('acme/app', 'refs/heads/main', { repository_owner_id: '6666' }),
      /claim "repository_owner_id" does not match/,
    );
    await refused(
      auth,
      await actionsToken('acme/app', 'refs/heads/main', { sub: 'repo:evil/acme/x:ref:refs/heads/main' }),
      /claim "sub" does not match/,
    );
    await refused(
      auth,
      await actionsToken('acme/app', 'refs/heads/main', { ref: undefined }),
      /claim "ref" is required/,
    );
  });

  it('without claim rules any repository on GitHub gets in: the rules are what closes it', async () => {
    const open = createAuthenticator({ methods: [actionsMethod({})] });
    assert.equal((await open.authenticate(request(await actionsToken('mallory/app')))).tenant, 'mallory');
    const closed = createAuthenticator({ methods: [actionsMethod({ repository_owner: 'acme' })] });
    await refused(closed, await actionsToken('mallory/app'), /repository_owner/);
  });

  it('one repository and its main branch only, by sub pattern', async () => {
    const auth = createAuthenticator({
      methods: [actionsMethod({ sub: 'repo:acme/app:ref:refs/heads/main' })],
    });
    assert.equal((await auth.authenticate(request(await actionsToken('acme/app')))).tenant, 'acme');
    await refused(auth, await actionsToken('acme/other'), /claim "sub" does not match/);
  });

  it('a company IdP and GitHub Actions side by side: each token goes to its own method, in either order', async () => {
    const companyMethod: AuthMethodConfig = {
      type: 'jwt',
      issuer: company.issuer,
      audience: AUDIENCE,
      tenantClaim: 'kiln_tenant',
    };
    for (const methods of [
      [companyMethod, actionsMethod(rules)],
      [actionsMethod(rules), companyMethod],
    ]) {
      const auth = createAuthenticator({ methods });
      const dev = await auth.authenticate(request(await company.clientCredentials(0)));
      assert.deepEqual(dev, { sub: 'ci-runner', tenant: 'acme', method: 'jwt', admin: false });
      const ci = await auth.authenticate(request(await actionsToken('acme/app')));
      assert.equal(ci.sub, 'repo:acme/app:ref:refs/heads/main');
      await refused(auth, await actionsToken('mallory/app'), /repository_owner/);
    }
  });
});
