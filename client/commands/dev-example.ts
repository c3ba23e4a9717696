/** The example job of `kiln dev --example`: compile hello.c on the farm, bring the binary back, run it here. */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { say, type Io } from '../command.ts';
import { handler as runJob } from './run.ts';

const HELLO = `#include <stdio.h>\nint main(void) { printf("hello from a kiln builder\\n"); return 0; }\n`;

export async function runExample(url: string, token: string, io: Io): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-example-'));
  try {
    await writeFile(join(dir, 'hello.c'), HELLO);
    say(io.stdout, `kiln dev: example — kiln run --input ${dir} --output hello -- gcc -O2 -o hello hello.c`);
    const code = await runJob(
      {
        cmd: ['sh', '-c', 'gcc -O2 -o hello hello.c && echo compiled on $(uname -n)'],
        input: dir,
        output: ['hello'],
        detach: false,
        json: false,
      },
      { ...io, env: { ...io.env, KILN_GATEWAY: url, KILN_TOKEN: token } },
    );
    if (code !== 0) {
      say(io.stderr, `kiln dev: the example job failed (exit ${code})`);
      return;
    }
    const out = execFileSync(join(dir, 'hello'), { encoding: 'utf8' });
    say(io.stdout, `kiln dev: ran the binary the farm built: ${out.trim()}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
