/** Process glue of `kiln cc`: real stdio, the exit code. Loaded without yargs, for speed. */
import { kilnCc } from './compile.ts';

export async function runCcCli(argv: string[]): Promise<void> {
  try {
    process.exitCode = await kilnCc(argv, {
      cwd: process.cwd(),
      env: process.env,
      stdout: process.stdout,
      stderr: process.stderr,
    });
  } catch (err) {
    process.stderr.write(
      `kiln cc: internal error (please report it):\n${(err as Error).stack ?? String(err)}\n`,
    );
    process.exitCode = 70;
  }
}
