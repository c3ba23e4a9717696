/** The gcc/clang option table: where each option goes (local preprocessing, the remote compile, both, nowhere) and how it takes its value. */

/** Where an option goes: preprocessing only, both runs, the remote compile only, nowhere, or local. */
export type Role = 'pre' | 'both' | 'compile' | 'link' | 'drop' | { local: string };
/** `none`: a flag; `separate`: value in the next argument; `either`: joined or next; `joined`: part of it. */
export type Arity = 'none' | 'separate' | 'either' | 'joined';
export interface Spec {
  role: Role;
  arity: Arity;
}

export const R = {
  plugin: 'compiler plugin',
  profile: 'profiling or coverage',
  extraOutput: 'writes extra output files',
  localFile: 'reads a local file while compiling',
  helpers: 'uses local helper programs or specs',
  saveTemps: '-save-temps writes intermediate files',
  native: "tuned for this machine's CPU",
  info: 'prints information instead of compiling',
  modules: 'C++ or clang modules',
  pch: 'precompiled header',
  traditional: 'traditional preprocessing',
  dump: 'compiler dump options',
  noObject: 'writes no object',
  cOnlyE: '-C/-CC need -E',
  preprocessed: 'input is already preprocessed',
  config: 'clang config file or working directory',
  charset: 'converts the input charset',
  clangImacros: 'clang -imacros (its macros are not in the rewritten text)',
} as const;

const local = (why: string): Role => ({ local: why });

/** [role, arity, names]: options gcc or clang document, by what they need. */
const TABLE: [Role, Arity, string][] = [
  // preprocessor-only
  ['pre', 'none', '-nostdinc -nostdinc++ -nostdlibinc -nobuiltininc -H -I- -remap'],
  // the remote compile defines the built-in macros (-undef) and reads the text (-trigraphs) itself
  ['both', 'none', '-undef -trigraphs'],
  ['pre', 'none', '-fworking-directory -fno-working-directory -fpch-preprocess -fpch-deps'],
  ['pre', 'none', '-fcanonical-system-headers -fno-canonical-system-headers -MV -Mmodules -Mno-modules'],
  ['pre', 'separate', '-Xpreprocessor -ivfsoverlay -iframework -iframeworkwithsysroot -resource-dir'],
  ['pre', 'separate', '-gcc-toolchain -cxx-isystem -isystem-after'],
  ['pre', 'either', '-I -isystem -iquote -idirafter -include -imacros -iprefix -iwithprefixbefore'],
  ['pre', 'either', '-iwithprefix -imultilib -imultiarch -D -U -A -F'],
  ['pre', 'joined', '--include-directory= --include-directory-after= --define-macro= --undefine-macro='],
  ['pre', 'joined', '--include= --imacros= --assert= --gcc-toolchain= -fmax-include-depth='],
  // __FILE__ and __BASE_FILE__ expand in the remote compile
  ['both', 'joined', '-fmacro-prefix-map='],
  // only the remote compile (the assembler runs there)
  ['compile', 'separate', '-Xassembler'],
  ['compile', 'joined', '-Wa,'],
  // both, with a separate value
  ['both', 'separate', '-target -mllvm --param'],
  ['both', 'joined', '-Xarch_'], // its value is the next argument: see analyzeCompile
  // linker-only: kept for the preprocessing run (clang warns there as a -c compile would)
  ['link', 'none', '-s -r -rdynamic -nostdlib -nostartfiles -nodefaultlibs -nolibc -symbolic'],
  ['link', 'none', '-shared-libgcc'],
  ['link', 'separate', '-Xlinker -u -z -rpath -framework -install_name -exported_symbols_list'],
  ['link', 'either', '-L -l -T'],
  ['link', 'joined', '-Wl, -fuse-ld= --ld-path= -rtlib= -unwindlib= -static-lib'],
  // only changes -E output
  ['drop', 'none', '-P'],
  // local
  [local(R.noObject), 'none', '-fsyntax-only --analyze -emit-llvm -emit-ast'],
  [local(R.saveTemps), 'joined', '-save-temps'],
  [local(R.traditional), 'none', '-no-integrated-cpp -traditional -traditional-cpp'],
  [local(R.cOnlyE), 'none', '-C -CC'],
  [local(R.info), 'none', '-v -### --version --help -Q -time'],
  [local(R.info), 'joined', '-print- --print- -dump --help= -time='],
  [local(R.extraOutput), 'separate', '-aux-info -MJ -serialize-diagnostics --serialize-diagnostics'],
  [local(R.extraOutput), 'separate', '-index-store-path -gen-cdb-fragment-path -Xanalyzer'],
  [local(R.extraOutput), 'joined', '-gsplit-dwarf -fstack-usage -fcallgraph-info -fsave-optimization-record'],
  [local(R.extraOutput), 'joined', '-ftime-trace -fdump- -fcompare-debug'],
  [local(R.extraOutput), 'joined', '-fdiagnostics-format=json-file -fdiagnostics-format=sarif-file'],
  [local(R.profile), 'none', '--coverage -ftest-coverage -fbranch-probabilities -fcoverage-mapping'],
  [local(R.profile), 'joined', '-fprofile -fauto-profile -fcs-profile-'],
  [local(R.plugin), 'joined', '-fplugin -fpass-plugin='],
  [local(R.localFile), 'joined', '-fsanitize-blacklist= -fsanitize-ignorelist= -fprofile-list='],
  [local(R.localFile), 'joined', '-fsanitize-coverage-allowlist= -fsanitize-coverage-blocklist='],
  [local(R.localFile), 'joined', '-fsanitize-coverage-ignorelist= -fsanitize-coverage-whitelist='],
  [local(R.localFile), 'joined', '-fsanitize-coverage-blacklist= -fxray-attr-list='],
  [local(R.localFile), 'joined', '-fxray-always-instrument= -fxray-never-instrument='],
  [local(R.helpers), 'separate', '-wrapper -specs --specs'],
  [local(R.helpers), 'joined', '-specs= --specs='],
  [local(R.helpers), 'either', '-B'],
  [local(R.native), 'none', '-march=native -mtune=native -mcpu=native'],
  [local(R.modules), 'joined', '-fmodules -fcxx-modules -fmodule- -fimplicit-module -fprebuilt-module-path='],
  [local(R.modules), 'none', '-gmodules'],
  [local(R.pch), 'separate', '-include-pch'],
  [local(R.preprocessed), 'none', '-fpreprocessed -fdirectives-only'],
  [local(R.config), 'separate', '--config -working-directory'],
  [local(R.config), 'joined', '--config='],
  [local(R.charset), 'joined', '-finput-charset='],
  [local(R.dump), 'joined', '-d'],
];

const EXACT = new Map<string, Spec>();
const PREFIX: [string, Spec][] = [];
for (const [role, arity, names] of TABLE) {
  for (const n of names.split(' ')) {
    if (arity === 'none' || arity === 'separate') EXACT.set(n, { role, arity });
    else PREFIX.push([n, { role, arity }]);
  }
}
PREFIX.sort((a, b) => b[0].length - a[0].length);

/** clang `-Xclang` values that load code into the compiler. */
export const XCLANG_PLUGIN = new Set([
  '-load',
  '-plugin',
  '-add-plugin',
  '-load-pass-plugin',
  '-fpass-plugin',
]);

export function lookup(arg: string): { spec: Spec; joined: boolean } | null {
  const exact = EXACT.get(arg);
  if (exact) return { spec: exact, joined: false };
  for (const [p, spec] of PREFIX) {
    if (!arg.startsWith(p)) continue;
    if (spec.arity === 'either') return { spec, joined: arg.length > p.length };
    return { spec, joined: true };
  }
  return null;
}
