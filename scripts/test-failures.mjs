// A node:test reporter that writes one JSON line per failed test (its file, the names from its
// outermost suite down, the error's first lines and where it was thrown), for scripts/test.mjs
// to print after the run: CI shows the end of the output, and the TAP above it is long.
// Suites failing only because a subtest failed are left out (the subtest is there).
const stacks = new Map(); // file → names by nesting
const stderrTail = new Map(); // file → its last lines on stderr (a file that fails outside a test)

function firstLines(text, n = 20) {
  const lines = String(text ?? '').split('\n');
  const kept = lines.slice(0, n).map((l) => (l.length > 300 ? `${l.slice(0, 300)}…` : l));
  if (lines.length > n) kept.push(`… (${lines.length - n} more lines)`);
  return kept.join('\n');
}

export default async function* failures(source) {
  for await (const { type, data } of source) {
    if (type === 'test:start') {
      const s = stacks.get(data.file) ?? [];
      s.length = data.nesting;
      s.push(data.name);
      stacks.set(data.file, s);
    } else if (type === 'test:stderr' && data.file) {
      const tail = [...(stderrTail.get(data.file) ?? []), ...String(data.message).split('\n')];
      stderrTail.set(data.file, tail.filter(Boolean).slice(-12));
    } else if (type === 'test:fail') {
      const err = data.details?.error;
      if (err?.failureType === 'subtestsFailed') continue;
      const names = [...(stacks.get(data.file) ?? []).slice(0, data.nesting), data.name];
      const cause = err?.cause && typeof err.cause === 'object' && err.cause.message ? err.cause : err;
      const at = String(cause?.stack ?? '')
        .split('\n')
        .find((l) => /^\s+at /.test(l) && l.includes('/test/') && !l.includes('node_modules'));
      const wholeFile = data.name === data.file;
      yield `${JSON.stringify({
        file: data.file,
        names: wholeFile ? [] : names,
        failureType: err?.failureType ?? null,
        message: firstLines(cause?.message ?? err?.message ?? 'failed'),
        at: at?.trim().replace(/^at /, '') ?? null,
        stderr: wholeFile ? (stderrTail.get(data.file) ?? []) : [],
      })}\n`;
    }
  }
}
