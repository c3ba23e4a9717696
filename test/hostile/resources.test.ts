/**
 * Hostile tenant spending the farm's resources: a large declared output (builder memory), a large
 * log (Redis memory), a large file in /job (the builder's disk), and the bombs — processes,
 * memory, outputs, logs — each against its limit. The measured attacks run one at a time on a
 * builder that runs nothing else; the bombs run together afterwards.
 */
import { describe } from 'node:test';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { redisKeys } from '../../protocol/keys.ts';
import { api, readLog } from '../helpers/http.ts';
import { b64, jobError, useHostileFarm, type HostileFarm } from './farm.ts';
import { probeSpec } from './probe.ts';
import { hostileSuite, tried, type Try } from './tally.ts';

const suite = hostileSuite('resources');
const MiB = 1024 * 1024;
/**
 * What the builder may grow by while it stores a 512 MiB output (it once held ~3× the output) or
 * a 256 MiB log written as fast as the job can (it once held all of it).
 */
const BUILDER_GROWTH_BOUND = 160 * MiB;
/** Redis per job's log: the builder's logTailBytes (4 MiB by default) plus the stream's overhead. */
const LOG_KEY_BOUND = 5 * MiB;
const REDIS_PEAK_GROWTH_BOUND = 16 * MiB;

async function redisMemory(h: HostileFarm): Promise<{ used: number; peak: number }> {
  const info = await h.redis().info('memory');
  const num = (k: string): number => Number(new RegExp(`^${k}:(\\d+)`, 'm').exec(info)?.[1]);
  return { used: num('used_memory'), peak: num('used_memory_peak') };
}

async function logKeyBytes(h: HostileFarm, id: string): Promise<number> {
  return Number((await h.redis().call('MEMORY', 'USAGE', redisKeys(h.farm().prefix).jobLog(id))) ?? 0);
}

const mib = (n: number): string => `${(n / MiB).toFixed(1)} MiB`;
const BLOB_CACHE_BYTES = 8 * MiB;
const h = useHostileFarm({ slots: 4, builderExtra: { blobCacheBytes: BLOB_CACHE_BYTES } });

/** Bytes of the files under `dir` (the builder's blob cache), from the host. */
function bytesUnder(dir: string): number {
  const out = spawnSync('find', [dir, '-type', 'f', '-printf', '%s\\n'], { encoding: 'utf8' }).stdout;
  return out
    .split('\n')
    .filter(Boolean)
    .reduce((n, l) => n + Number(l), 0);
}

describe('hostile tenant: resources, measured one at a time', { concurrency: 1, timeout: 240_000 }, () => {
  suite.attack('output-held-in-builder', async () => {
    const tries: Try[] = [];
    for (const inlineResult of [false, true]) {
      const before = await h.builderMemory();
      const ran = await h.run(h.acme(), {
        argv: ['sh', '-c', 'truncate -s 512M out'],
        outputs: ['out'],
        inlineResult,
      });
      const after = await h.builderMemory();
      const size = (ran.job?.outputs as { size?: number } | null)?.size ?? 0;
      if (ran.job?.state !== 'succeeded' || size < 512 * MiB)
        throw new Error(`the output job did not store its output: ${JSON.stringify(ran.job)}`);
      const grew = after.hwm - before.rss;
      tries.push(
        tried(
          `a 512 MiB output${inlineResult ? ' with inlineResult' : ''}: builder peak over its RSS before`,
          grew < BUILDER_GROWTH_BOUND,
          `RSS ${mib(before.rss)} → peak ${mib(after.hwm)} (+${mib(grew)}, bound ${mib(BUILDER_GROWTH_BOUND)})`,
        ),
      );
    }
    return tries;
  });

  suite.attack('log-in-redis', async () => {
    const before = await redisMemory(h);
    const ran = await h.run(h.acme(), {
      argv: ['sh', '-c', 'yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 32M'],
      limits: { logBytes: 1 << 30 },
    });
    const after = await redisMemory(h);
    const id = (ran.job as { id: string } | null)?.id;
    if (ran.job?.state !== 'succeeded' || !id || ran.stdout.length !== 32 * MiB)
      throw new Error(`the log job: ${JSON.stringify(ran.job)}, ${ran.stdout.length} bytes of log read back`);
    const key = await logKeyBytes(h, id);
    return [
      tried(
        "32 MiB of log: the job's log key in Redis",
        key < LOG_KEY_BOUND,
        `${mib(key)} (bound ${mib(LOG_KEY_BOUND)}); the whole 32 MiB read back from the store`,
      ),
      tried(
        'Redis used_memory_peak while it ran',
        after.peak - before.peak < REDIS_PEAK_GROWTH_BOUND,
        `used ${mib(before.used)} → ${mib(after.used)}, peak ${mib(before.peak)} → ${mib(after.peak)} ` +
          `(bound +${mib(REDIS_PEAK_GROWTH_BOUND)})`,
      ),
    ];
  });

  suite.attack('log-held-in-builder', async () => {
    const before = await h.builderMemory();
    const ran = await h.run(
      h.acme(),
      {
        argv: ['sh', '-c', 'yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 256M'],
        limits: { logBytes: 512 * MiB },
      },
      { log: false },
    );
    const after = await h.builderMemory();
    if (ran.job?.state !== 'succeeded' || ran.job.logTruncated !== false)
      throw new Error(`the log job: ${JSON.stringify(ran.job)}`);
    const grew = after.hwm - before.rss;
    return [
      tried(
        '256 MiB of log written faster than it is stored: builder peak over its RSS before',
        grew < BUILDER_GROWTH_BOUND,
        `RSS ${mib(before.rss)} → peak ${mib(after.hwm)} (+${mib(grew)}, bound ${mib(BUILDER_GROWTH_BOUND)})`,
      ),
    ];
  });

  suite.attack('disk-quota', async () => {
    const tries: Try[] = [];
    for (const path of ['/job/big', '/tmp/big']) {
      const ran = await h.run(h.acme(), {
        argv: ['sh', '-c', `fallocate -l 5G ${path} && echo allocated; rm -f ${path}`],
        limits: { diskMiB: 1024 },
      });
      tries.push(
        tried(
          `fallocate -l 5G ${path} under limits.diskMiB 1024`,
          ran.status === 201 && !ran.stdout.includes('allocated'),
          `${String(ran.job?.state)} ${ran.stdout.trim()} ${ran.stderr.trim()}`.slice(0, 160),
        ),
      );
    }
    // Filling it for real: the job is told why it failed.
    const fill = await h.run(h.acme(), {
      argv: ['sh', '-c', 'dd if=/dev/zero of=/job/fill bs=1M count=100 2>&1 && echo wrote'],
      limits: { diskMiB: 64 },
    });
    tries.push(
      tried(
        'write 100 MiB to /job under limits.diskMiB 64',
        !fill.stdout.includes('wrote') && jobError(fill.job) === 'ERR_DISK_QUOTA',
        `${String(fill.job?.state)} ${jobError(fill.job) ?? ''} ${(fill.job?.error as { message?: string } | null)?.message ?? ''}`,
      ),
    );
    return tries;
  });
});

describe('hostile tenant: the blob cache', { timeout: 240_000 }, () => {
  suite.attack('blob-cache-flood', async () => {
    const acme = h.acme();
    const cache = join(h.farm().dataDir, 'work-0', 'blobs');
    const blobs: { digest: string; size: number }[] = [];
    for (let i = 0; i < 12; i++) {
      const bytes = new Uint8Array(randomBytes(MiB));
      const digest = createHash('sha256').update(bytes).digest('hex');
      const r = await api(acme, `/api/v1/blobs/${digest}`, { method: 'PUT', body: bytes });
      if (r.status !== 201) throw new Error(`upload: ${r.status}`);
      blobs.push({ digest, size: MiB });
    }
    const job = async (part: typeof blobs): Promise<Awaited<ReturnType<HostileFarm['run']>>> => {
      const m = new TextEncoder().encode(
        JSON.stringify({ version: 1, entries: part.map((b, i) => ({ type: 'file', path: `f${i}`, ...b })) }),
      );
      const digest = createHash('sha256').update(m).digest('hex');
      await api(acme, `/api/v1/blobs/${digest}`, { method: 'PUT', body: m });
      return h.run(acme, { argv: ['sh', '-c', 'cat f* | wc -c'], tree: { digest, size: m.byteLength } });
    };
    let most = 0;
    for (let k = 0; k < 3; k++) {
      const ran = await job(blobs.slice(4 * k, 4 * k + 4));
      if (ran.stdout.trim() !== String(4 * MiB)) throw new Error(`job ${k}: ${JSON.stringify(ran.job)}`);
      most = Math.max(most, bytesUnder(cache));
    }
    const again = await job(blobs.slice(0, 4));
    return [
      tried(
        `12 MiB of distinct inputs through a ${mib(BLOB_CACHE_BYTES)} blob cache`,
        most <= BLOB_CACHE_BYTES,
        `the cache held at most ${mib(most)} after a job`,
      ),
      tried(
        'evicted blobs are fetched again for the next job',
        again.stdout.trim() === String(4 * MiB),
        `${String(again.job?.state)} ${again.stdout.trim()}`,
      ),
    ];
  });
});

describe('hostile tenant: bombs, together', { concurrency: 4, timeout: 240_000 }, () => {
  suite.attack('fork-bomb', async () => {
    const ran = await h.run(
      h.acme(),
      probeSpec(
        `
import time
pid = os.fork()
if pid == 0:
    os.setpgid(0, 0)
    while True:
        try:
            os.fork()
        except OSError:
            time.sleep(0.01)
time.sleep(3)
n = sum(1 for d in os.listdir("/proc") if d.isdigit())
print(json.dumps({"processes": n}), flush=True)
os.killpg(pid, 9)
`,
        { limits: { pids: 64, cpus: 0.5, timeoutSec: 30 } },
      ),
    );
    const n = (
      JSON.parse(ran.stdout.split('\n').find((l) => l.startsWith('{')) ?? '{}') as { processes?: number }
    ).processes;
    if (n === undefined)
      throw new Error(`the fork bomb printed nothing: ${JSON.stringify(ran.job)} ${ran.stderr}`);
    const alive = await h.run(h.acme(), { argv: ['echo', 'alive'] });
    return [
      tried('processes at once under limits.pids 64', n <= 64, `${n} processes seen in the sandbox`),
      tried('the builder runs the next job', alive.stdout === 'alive\n', alive.job?.state),
    ];
  });

  suite.attack('memory-bomb', async () => {
    const limits = { memoryMiB: 64, timeoutSec: 60 };
    const [heap, tmp] = await Promise.all([
      h.run(h.acme(), {
        argv: ['/usr/bin/python3', '-c', 'b = bytearray(512 * 1024 * 1024); print("allocated", len(b))'],
        limits,
      }),
      // /tmp is on the job's disk (test/builder/disk-quota.test.ts): its limit bounds it too.
      h.run(h.acme(), {
        argv: ['sh', '-c', 'head -c 200M /dev/zero > /tmp/fill && echo filled'],
        limits: { ...limits, diskMiB: 64 },
      }),
    ]);
    const builderAlive = (() => {
      try {
        process.kill(h.builderPid(), 0);
        return true;
      } catch {
        return false;
      }
    })();
    return [
      tried(
        'allocate 512 MiB under 64 MiB',
        heap.job?.state === 'failed' && !heap.stdout.includes('allocated'),
        `${String(heap.job?.state)} ${jobError(heap.job) ?? ''}`,
      ),
      tried(
        'fill /tmp with 200 MiB under 64 MiB (memory and disk)',
        tmp.job?.state === 'failed' && !tmp.stdout.includes('filled'),
        `${String(tmp.job?.state)} ${jobError(tmp.job) ?? ''}`,
      ),
      tried('the builder process survives', builderAlive, builderAlive ? 'alive' : 'gone'),
    ];
  });

  suite.attack('output-flood', async () => {
    const limits = { outputBytes: MiB };
    const [one, many] = await Promise.all([
      h.run(h.acme(), { argv: ['sh', '-c', 'head -c 8M /dev/urandom > out'], outputs: ['out'], limits }),
      h.run(h.acme(), {
        argv: ['sh', '-c', 'mkdir d; i=0; while [ $i -lt 3000 ]; do echo $i > d/$i; i=$((i+1)); done'],
        outputs: ['d'],
        limits,
      }),
    ]);
    const refused = (r: typeof one): boolean =>
      r.job?.state === 'failed' && jobError(r.job) === 'ERR_TOO_LARGE' && r.job.outputs === null;
    return [
      tried(
        'an 8 MiB file under outputBytes 1 MiB',
        refused(one),
        `${String(one.job?.state)} ${jobError(one.job) ?? ''}`,
      ),
      tried(
        '3000 small files (3 MB of tar) under outputBytes 1 MiB',
        refused(many),
        `${String(many.job?.state)} ${jobError(many.job) ?? ''}`,
      ),
    ];
  });

  suite.attack('log-flood', async () => {
    const limits = { logBytes: 65_536 };
    const writes = 'import os\nfor _ in range(1_000_000): os.write(1, b"x")\n';
    const [lines, oneLine, tiny] = await Promise.all([
      h.run(h.acme(), { argv: ['sh', '-c', 'yes | head -c 20M'], limits }),
      h.run(h.acme(), { argv: ['sh', '-c', "head -c 8M /dev/zero | tr '\\0' x"], limits }),
      h.run(h.acme(), {
        argv: ['/usr/bin/python3', 'w.py'],
        inline: [{ path: 'w.py', data: b64(writes) }],
        limits: { logBytes: 4 * MiB },
      }),
    ]);
    const kept = async (r: typeof lines, max: number): Promise<[boolean, string]> => {
      const id = (r.job as { id: string } | null)?.id;
      if (!id) return [false, `not run: ${r.status}`];
      const key = await logKeyBytes(h, id);
      const log = await readLog(h.acme(), id, false);
      const ok = r.job?.logTruncated === true && log.stdout.length <= max && key < LOG_KEY_BOUND;
      return [
        ok,
        `kept ${log.stdout.length} bytes, truncated ${String(r.job?.logTruncated)}, Redis ${mib(key)}`,
      ];
    };
    const tinyId = (tiny.job as { id: string } | null)?.id ?? '';
    const tinyKey = tinyId ? await logKeyBytes(h, tinyId) : Infinity;
    return [
      tried('20 MB of lines under logBytes 64 KiB', ...(await kept(lines, 65_536))),
      tried('one 8 MiB line under logBytes 64 KiB', ...(await kept(oneLine, 65_536))),
      tried(
        "1,000,000 one-byte writes: the job's log key in Redis",
        tiny.job?.state === 'succeeded' && tinyKey < LOG_KEY_BOUND,
        `${String(tiny.job?.state)}, Redis ${mib(tinyKey)} (bound ${mib(LOG_KEY_BOUND)})`,
      ),
    ];
  });
});

suite.finish();
