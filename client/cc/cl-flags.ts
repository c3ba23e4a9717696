/**
 * The clang-cl (MSVC-style) option table: where each option goes and how it takes its value.
 * Names are without their leading `/` or `-` (clang-cl takes both); an option of the table wins
 * over a gcc-style option of the same spelling (`/MD` is the runtime library, not a depfile).
 */
import { R, type Arity } from './flags.ts';

/**
 * `pre`: the local preprocessing only; `both`: both runs; `link`: neither (linker options, unused
 * with `/c`); `show`: `/showIncludes` (local, its lines relayed on stdout); `{local}`: run here.
 */
export type ClRole = 'pre' | 'both' | 'link' | 'show' | { local: string };

export interface ClSpec {
  role: ClRole;
  arity: Arity;
}

export const CL_REASON = {
  pdb: 'shared PDB (/Zi, /ZI)',
  preprocessOnly: '/E, /EP or /P only preprocess',
  pch: R.pch,
  extraOutput: R.extraOutput,
  noObject: R.noObject,
  info: R.info,
  modules: R.modules,
} as const;

const local = (why: string): ClRole => ({ local: why });

const TABLE: [ClRole, Arity, string][] = [
  // header search and forced includes: their effect is in the text
  ['pre', 'either', 'I imsvc external:I FI winsysroot vctoolsdir vctoolsversion winsdkdir winsdkversion'],
  ['pre', 'none', 'X external:anglebrackets'],
  ['pre', 'joined', 'external:W external:env:'],
  ['show', 'none', 'showIncludes showIncludes:user'],
  // -frewrite-includes keeps #if blocks: macro options go to both runs
  ['both', 'either', 'D U'],
  ['both', 'none', 'u'],
  // the runtime library options, spelled like gcc's dependency options
  ['both', 'none', 'MD MDd MT MTd LD LDd'],
  ['both', 'joined', 'MP'],
  ['link', 'joined', 'Fe link'],
  [local(CL_REASON.pdb), 'none', 'Zi ZI'],
  [local(CL_REASON.preprocessOnly), 'none', 'E EP P'],
  [local(CL_REASON.pch), 'joined', 'Yc Yu Y- Fp Yl'],
  [local(CL_REASON.extraOutput), 'joined', 'FA Fa Fi Fm Fr FR Fx doc sourceDependencies Fd'],
  [local(CL_REASON.noObject), 'none', 'Zs'],
  [local(CL_REASON.info), 'none', '? help Bv'],
  [local(CL_REASON.modules), 'joined', 'experimental:module module: interface internalPartition'],
];

const EXACT = new Map<string, ClSpec>();
const PREFIX: [string, ClSpec][] = [];
for (const [role, arity, names] of TABLE)
  for (const n of names.split(' ')) {
    if (arity === 'none' || arity === 'separate') EXACT.set(n, { role, arity });
    else PREFIX.push([n, { role, arity }]);
  }
PREFIX.sort((a, b) => b[0].length - a[0].length);

/** The option named by `name` (an argument without its `/` or `-`), with the name's length. */
export function lookupCl(name: string): { spec: ClSpec; nameLength: number } | null {
  const exact = EXACT.get(name);
  if (exact) return { spec: exact, nameLength: name.length };
  for (const [p, spec] of PREFIX) if (name.startsWith(p)) return { spec, nameLength: p.length };
  return null;
}
