/**
 * Client start time, side by side: `kiln --help` and a `kiln cc` cache hit with the built client
 * (dist/client, what `npm install -g` installs), the repository's tsx entry (client/bin/kiln.js)
 * and the native front (client/cc/native/kiln-cc and its warm daemon), next to `node -e 0`
 * (Node's own start, the floor of any Node client: what Windows pays per compile without a
 * daemon) and the local `gcc -c` the hit replaces. Builds dist/client first; starts a local farm.
 *
 *   npm run bench:client-start -- [--runs N]
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDevFarm } from '../wiring/dev-farm.ts';
import { HEADER, row, summarise } from './stats.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 10;
const BUILT = join(ROOT, 'dist', 'client', 'kiln.mjs');
const TSX = join(ROOT, 'client', 'bin', 'kiln.js');
const NATIVE = join(ROOT, 'client', 'cc', 'native', 'kiln-cc');

function once(argv: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${argv.join(' ')}: exit ${code}: ${err}`)),
    );
  });
}

async function measure(label: string, argv: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<void> {
  await once(argv, cwd, env); // warm the file cache (and the daemon)
  const lat: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < RUNS; i++) {
    const s = performance.now();
    await once(argv, cwd, env);
    lat.push(performance.now() - s);
  }
  console.log(row(label, summarise(lat, performance.now() - t0)));
}

execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-client.mjs')], { stdio: 'ignore' });
const farm = await startDevFarm({ builders: 1, slots: 2, port: 0 });
const work = await mkdtemp(join(tmpdir(), 'kiln-bench-start-'));
try {
  await writeFile(join(work, 'a.c'), 'int triple(int x) { return 3 * x; }\n');
  const env = {
    ...process.env,
    KILN_GATEWAY: farm.url,
    KILN_TOKEN: farm.token,
    KILN_STATS_FILE: join(work, 'stats.json'),
    KILN_CC_MANIFESTS: join(work, 'manifests'),
    KILN_CC_SOCKET: join(work, 'cc.sock'),
    KILN_CC_DAEMON_IDLE_MS: '10000',
  };
  const node = process.execPath;
  const cc = ['gcc', '-O2', '-c', 'a.c', '-o', 'a.o'];
  await once([node, BUILT, 'cc', ...cc], work, env); // the miss; every run below is a hit
  console.log(`client start, ${RUNS} runs each (node ${process.version}, ${process.platform})`);
  console.log(HEADER);
  await measure('node -e 0 (Node start, the floor)', [node, '-e', '0'], work, env);
  await measure('kiln --help, built client (dist/client)', [node, BUILT, '--help'], work, env);
  await measure('kiln --help, repository entry (tsx)', [node, TSX, '--help'], work, env);
  await measure('kiln cc hit, built client', [node, BUILT, 'cc', ...cc], work, env);
  await measure('kiln cc hit, repository entry (tsx)', [node, TSX, 'cc', ...cc], work, env);
  if (existsSync(NATIVE)) await measure('kiln cc hit, native front + daemon', [NATIVE, ...cc], work, env);
  else console.log('native front not built (scripts/setup.mjs builds it with gcc): skipped');
  await measure('gcc -O2 -c a.c (local, the peer)', cc, work, env);
} finally {
  await farm.stop();
  await rm(work, { recursive: true, force: true });
}
