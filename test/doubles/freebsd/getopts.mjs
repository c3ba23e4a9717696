/**
 * POSIX `getopts`, as pot's shell scripts parse their options: grouped flags (`-Fp name`), an
 * option's value in the same word (`-pname`) or the next, parsing stops at `--` or at the first
 * word that is not an option. An unknown option or a missing value is an error, as in pot, whose
 * `*)` branch prints the help and exits 1.
 */

/**
 * @param {string[]} argv
 * @param {string} optstring the string pot passes to getopts, e.g. "hvp:i:P:FN:B:S:f:ks:d:"
 * @returns {{ opts: [string, string][], rest: string[], error?: string }}
 */
export function getopts(argv, optstring) {
  /** @type {[string, string][]} */
  const opts = [];
  let i = 0;
  while (i < argv.length) {
    const word = argv[i];
    if (word === '--') {
      i++;
      break;
    }
    if (!word.startsWith('-') || word === '-') break;
    for (let j = 1; j < word.length; j++) {
      const c = word[j];
      const at = optstring.indexOf(c);
      if (c === ':' || at < 0) return { opts, rest: [], error: `illegal option -- ${c}` };
      if (optstring[at + 1] === ':') {
        let value = word.slice(j + 1);
        if (value === '') {
          i++;
          if (i >= argv.length) return { opts, rest: [], error: `option requires an argument -- ${c}` };
          value = argv[i];
        }
        opts.push([c, value]);
        break;
      }
      opts.push([c, '']);
    }
    i++;
  }
  return { opts, rest: argv.slice(i) };
}

/** The last value given for option `c` (pot's scripts keep the last), or undefined. */
export function opt(parsed, c) {
  let v;
  for (const [k, val] of parsed.opts) if (k === c) v = val;
  return v;
}

/** Every value given for option `c`, in order (pot's `-i`, `-e`, `-f` accumulate). */
export function opts(parsed, c) {
  return parsed.opts.filter(([k]) => k === c).map(([, v]) => v);
}

/** True when flag `c` was given. */
export function has(parsed, c) {
  return parsed.opts.some(([k]) => k === c);
}
