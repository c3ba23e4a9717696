/**
 * Prints the hostile-tenant table of the last run (every file's rows, in the order of the attack
 * table); scripts/test.mjs runs it after the tests.
 */
import { ATTACKS } from './attacks.ts';
import { formatTable, recordedRows } from './tally.ts';

const order = ATTACKS.map((a) => a.id);
const rows = recordedRows().sort((x, y) => order.indexOf(x.id) - order.indexOf(y.id));
const missing = ATTACKS.filter((a) => !rows.some((r) => r.id === a.id)).map((a) => a.id);
process.stdout.write(`\nhostile-tenant suite (${rows.length} of ${ATTACKS.length} attacks run)\n`);
process.stdout.write(`${formatTable(rows)}\n`);
if (missing.length) process.stdout.write(`not run in this selection: ${missing.join(', ')}\n`);
process.stdout.write('\n');
