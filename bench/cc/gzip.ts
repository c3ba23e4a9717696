/**
 * gzip (`apt-get source gzip`): autoconf + automake + gnulib, `./configure` (untimed, answers
 * cached across trees), then `make -jN CC=… CFLAGS=…` with Debian 12's own CFLAGS
 * (`dpkg-buildflags`): `-g -O2 -ffile-prefix-map=<tree>=. -fstack-protector-strong -Wformat
 * -Werror=format-security`. So every object carries debug info, and the tree's folder is mapped
 * out of it as Debian builds the package (without the map, a `-g` object names its folder and no
 * cache, ccache's included, shares it across folders). Checks: compress and decompress with the
 * built gzip (quick), `make check` (full).
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { ccLine, type Project } from './project.ts';
import { must, run } from './proc.ts';

/** Debian 12's `dpkg-buildflags --get CFLAGS`, in the tree `dir`. */
export const debianCflags = (dir: string): string =>
  `-g -O2 -ffile-prefix-map=${dir}=. -fstack-protector-strong -Wformat -Werror=format-security`;

export function gzipProject(work: string): Project {
  return {
    name: 'gzip',
    package: 'gzip',
    marker: 'gzip.c',
    describe: `./configure; make -jN CC=<cc> CFLAGS="${debianCflags('<tree>')}" (Debian's flags: -g)`,
    setup: async (dir, c, env) => {
      // The launcher comes at make time; configure's answers are the compiler's, cached for every tree.
      await must('./configure', [`--cache-file=${join(work, 'gzip-config.cache')}`, `CC=${c.cc}`], {
        cwd: dir,
        env,
      });
    },
    build: (dir, c, jobs) => ({
      cmd: 'make',
      args: [`-j${jobs}`, `CC=${ccLine(c)}`, `CFLAGS=${debianCflags(dir)}`],
      cwd: dir,
    }),
    clean: async (dir, env) => {
      await must('make', ['clean'], { cwd: dir, env });
    },
    check: async (dir, full) => {
      const problems: string[] = [];
      const gz = join(dir, 'gzip');
      const input = join(dir, 'ChangeLog');
      const packed = await run('sh', ['-c', `"$0" -9 -n -c "$1" | od -An -tx1 -v`, gz, input]);
      const back = await run('sh', ['-c', `"$0" -9 -n -c "$1" | "$0" -d -c | cmp - "$1"`, gz, input]);
      if (packed.code !== 0) problems.push(`gzip -9: ${packed.stderr.trim()}`);
      if (back.code !== 0)
        problems.push(`gzip -d does not give the input back: ${back.stdout}${back.stderr}`);
      const v = await run(gz, ['--version']);
      if (v.code !== 0 || !/^gzip \d/.test(v.stdout)) problems.push(`gzip --version: ${v.stdout}${v.stderr}`);
      let ran = 'gzip -9 | gzip -d round trip';
      if (full) {
        const r = await run('make', ['-j2', 'check'], { cwd: dir });
        const log = r.stdout;
        const total = /^# TOTAL: +(\d+)/m.exec(log)?.[1];
        const pass = /^# PASS: +(\d+)/m.exec(log)?.[1];
        if (r.code !== 0 || !total) problems.push(`make check: ${(r.stdout + r.stderr).slice(-500)}`);
        ran += `, make check ${pass ?? '?'}/${total ?? '?'} passed`;
      }
      // The compressed bytes of the same input must be the local build's.
      const digest = createHash('sha256').update(packed.stdout).digest('hex');
      return { ok: problems.length === 0, text: problems.join('; ') || ran, output: digest };
    },
  };
}
