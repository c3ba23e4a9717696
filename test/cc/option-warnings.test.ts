/** Which clang stderr counts as warnings about its own options only (client/cc/option-warnings.ts). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { onlyOptionWarnings } from '../../client/cc/option-warnings.ts';

const UNKNOWN =
  "warning: unknown warning option '-Wfoo-bar'; did you mean '-Wformat'? [-Wunknown-warning-option]\n";
const PLAIN = "warning: unknown warning option '-Wno-baz' [-Wunknown-warning-option]\n";

describe('onlyOptionWarnings', () => {
  it('takes unknown -W options and their count, coloured or not', () => {
    assert.equal(onlyOptionWarnings(`${UNKNOWN}${PLAIN}2 warnings generated.\n`), true);
    assert.equal(onlyOptionWarnings(`${PLAIN}1 warning generated.\n`), true);
    const coloured =
      "\u001b[0;1;35mwarning: \u001b[0m\u001b[1munknown warning option '-Wx' [-Wunknown-warning-option]\u001b[0m\n";
    assert.equal(onlyOptionWarnings(`${coloured}1 warning generated.\n`), true);
  });

  it('refuses anything else', () => {
    assert.equal(onlyOptionWarnings(''), false);
    assert.equal(onlyOptionWarnings('1 warning generated.\n'), false);
    assert.equal(onlyOptionWarnings(PLAIN.trimEnd()), false, 'a cut-off line');
    assert.equal(
      onlyOptionWarnings(`${PLAIN}a.c:1:2: warning: "x" [-W#warnings]\n2 warnings generated.\n`),
      false,
    );
    assert.equal(
      onlyOptionWarnings(
        "clang: warning: argument unused during compilation: '-L/x' [-Wunused-command-line-argument]\n",
      ),
      false,
    );
    assert.equal(
      onlyOptionWarnings(`error: unknown warning option '-Wx' [-Werror,-Wunknown-warning-option]\n`),
      false,
    );
  });
});
