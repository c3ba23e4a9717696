/** kiln's version: baked into the installed client by scripts/build-client.mjs, else the repository's package.json. */
import { readFileSync } from 'node:fs';

declare const __KILN_VERSION__: string | undefined;

export function kilnVersion(): string {
  if (typeof __KILN_VERSION__ === 'string') return __KILN_VERSION__;
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}
