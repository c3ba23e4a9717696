/**
 * The dashboard in a real headless Chromium (Debian's, driven by playwright-core): it loads with
 * the API's bearer token, lists the builder and the running job, and shows that job's log growing
 * live. The screenshot taken while the job runs is kept as a test artefact:
 * test-artifacts/dashboard.png (gitignored).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { kiln } from '../helpers/cli.ts';
import { api, codeOf } from '../helpers/http.ts';
import { startFaultFarm, type FaultFarm } from '../faults/farm.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

describe(
  'dashboard in headless Chromium',
  { timeout: 170_000, skip: existsSync(CHROMIUM) ? false : 'needs chromium (apt-get install -y chromium)' },
  () => {
    let f: FaultFarm;
    let browser: BrowserContext;
    let profile: string;
    before(async () => {
      f = await startFaultFarm({ builders: 1, slots: 2 });
      profile = mkdtempSync(join(tmpdir(), 'kiln-chromium-'));
      // A new profile directory of its own (playwright passes it as --user-data-dir).
      browser = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        viewport: { width: 1100, height: 800 },
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
        ],
      });
    });
    after(async () => {
      await browser?.close();
      await f?.stop();
      if (profile) rmSync(profile, { recursive: true, force: true });
    });

    it('refuses the data without a token, like the API', async () => {
      const r = await api({ url: f.url, token: '' }, '/api/v1/dashboard');
      assert.equal(r.status, 401);
      assert.equal(codeOf(r.body), 'ERR_UNAUTHENTICATED');
    });

    it('shows the builder, the running job and its log updating live; keeps a screenshot', async () => {
      const script = 'echo first-line; sleep 4; echo second-line; sleep 4; echo done';
      const run = kiln(['run', '--', 'sh', '-c', script], { url: f.url, token: f.token });
      const page = await browser.newPage();
      await page.goto(`${f.url}/dashboard#token=${encodeURIComponent(f.token)}`);
      await page.locator('#builders tbody tr').first().waitFor();
      assert.match(await page.locator('#builders').innerText(), /fb0-[0-9a-f]{8}\s+linux-x86_64\s+2/);
      await page.locator('#jobs td.running').first().waitFor({ timeout: 60_000 });
      assert.match(await page.locator('#jobs').innerText(), /sh -c echo first-line/);
      // The log pane follows the running job: first its first line, then (later) the second.
      await page.waitForFunction(
        () => document.getElementById('log')?.textContent?.includes('first-line'),
        null,
        {
          timeout: 60_000,
        },
      );
      const before = await page.locator('#log').innerText();
      assert.ok(!before.includes('second-line'), 'the second line is not out yet');
      await page.waitForFunction(
        () => document.getElementById('log')?.textContent?.includes('second-line'),
        null,
        {
          timeout: 60_000,
        },
      );
      assert.match(await page.locator('#queue').innerText(), /1 running/);
      mkdirSync(ARTIFACTS, { recursive: true });
      const shot = join(ARTIFACTS, 'dashboard.png');
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok(statSync(shot).size > 10_000, 'a real screenshot');
      const r = await run;
      assert.equal(r.code, 0, r.stderr);
      await page.waitForFunction(
        () => document.getElementById('log')?.textContent?.includes('[succeeded, exit 0]'),
        null,
        {
          timeout: 30_000,
        },
      );
    });
  },
);
