/**
 * Run by Node for Windows under Wine (test/client/wine.test.ts), bundled by esbuild: kiln's path
 * and config code with the OS's own rules (process.platform win32, node:path = path.win32).
 * Prints what it found as JSON.
 */
import path from 'node:path';
import { configDir, cacheDir, configFile } from '../../client/dirs.ts';
import { treePath } from '../../client/paths.ts';
import { layOut, layoutRoot, markerPaths } from '../../client/cc/remote-layout.ts';
import { analyzeCompile } from '../../client/cc/args.ts';

const cwd = process.cwd();
const text = '# 1 "C:\\\\Src\\\\Proj\\\\a.c"\n# 1 "c:\\\\src\\\\proj\\\\inc\\\\h.h" 1\nint x;\n';
const root = layoutRoot('C:\\src\\proj\\build', 'C:\\Src\\Proj\\a.c', markerPaths(text), null);
const layout = layOut('fixed', root, 'C:\\src\\proj\\build', 'C:\\Src\\Proj\\a.c', '..\\a.c', text, [
  'clang-cl',
  '/c',
  '/Tc',
  '..\\a.c',
  '/Foout.o',
]);
const plan = analyzeCompile(['clang-cl.exe', '/c', '/Foobj\\', 'src\\a.c', '/showIncludes'], {
  cwd: 'C:\\proj',
});
console.log(
  JSON.stringify({
    platform: process.platform,
    appData: process.env.APPDATA,
    localAppData: process.env.LOCALAPPDATA,
    sep: path.sep,
    configDir: configDir(process.env),
    cacheDir: cacheDir(process.env),
    configFile: configFile(cwd, process.env),
    tree: [
      treePath('C:\\Src', 'c:\\src\\Lib\\a.c', path),
      treePath('\\\\build\\share', '\\\\BUILD\\share\\x\\y.c', path),
      treePath('C:\\src', 'D:\\src\\a.c', path),
    ],
    layout: layout && {
      cwd: layout.cwd,
      sourcePath: layout.sourcePath,
      argv: layout.argv,
      text: layout.text.toString(),
    },
    plan: plan.distributable ? { output: plan.output, source: plan.source } : plan,
  }),
);
