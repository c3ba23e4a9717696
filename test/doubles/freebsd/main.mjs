/**
 * Entry of the FreeBSD double (test/doubles/{pot,jail,rctl,pkill,dmesg} call it with their name):
 * records the call, checks pot's usage (pot-usage.mjs), then applies the command to the state
 * under $POT_FS_ROOT. With POT_DOUBLE_CHECK_ONLY=1 it stops after the usage check (the contract
 * test). Exit statuses: 0 done, 1 refused as pot refuses, 2 not implemented by the double.
 */
import { checkUsage } from './pot-usage.mjs';
import { EFFECTS } from './pot-commands.mjs';
import { HOST_TOOLS } from './host-tools.mjs';
import { fail, logCall } from './store.mjs';

const [tool, ...args] = process.argv.slice(2);

async function pot(argv) {
  const u = checkUsage(argv);
  if ('error' in u) {
    process.stderr.write(`###>  ${u.error}\n`);
    process.exit(u.status);
  }
  if (process.env.POT_DOUBLE_CHECK_ONLY === '1') process.exit(0);
  if (process.getuid?.() !== 0) fail('This operation needs superuser privileges'); // common.sh _is_uid0
  const status = await EFFECTS[u.cmd](u.parsed, (sub) => pot(sub));
  return typeof status === 'number' ? status : 0;
}

if (process.env.POT_DOUBLE_CHECK_ONLY !== '1') logCall(tool, args);
if (tool === 'pot') {
  process.exit(await pot(args));
} else if (HOST_TOOLS[tool]) {
  if (process.env.POT_DOUBLE_CHECK_ONLY === '1') process.exit(0);
  HOST_TOOLS[tool](args);
} else {
  fail(`the FreeBSD double has no tool "${tool}"`, 2);
}
