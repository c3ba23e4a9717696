// `node --import ./test/helpers/record-loads.mjs …` appends the URL of every module the process
// loads (after resolution) to the file named by KILN_TEST_LOADS, one per line: how the lazy-load
// test sees what `kiln --help` and `kiln status` import.
import { register } from 'node:module';

register('./record-loads-hooks.mjs', import.meta.url, { data: { file: process.env.KILN_TEST_LOADS } });
