#!/usr/bin/env node
// Stand-in for /usr/bin/log (the unified log exists only on a Mac). `stream --style ndjson
// --level debug --predicate P` prints the banner the real one prints once its predicate is
// installed, then every line appended to $NONO_SIM_SPOOL (written by the seatbelt double when
// its sandbox refuses something); `show --style ndjson --last Ns --predicate P` prints the spool.
// Arguments other than those nono passes are refused, as a guard that nono asks for the right thing.
import fs from 'node:fs';

const [verb, ...args] = process.argv.slice(2);
const spool = process.env.NONO_SIM_SPOOL;
const want = verb === 'stream' ? ['--style', 'ndjson', '--level', 'debug', '--predicate'] : ['--style', 'ndjson', '--last'];
if (!spool || !['stream', 'show'].includes(verb) || want.some((a, i) => verb === 'stream' ? args[i] !== a : args[i] !== a && i < 2)) {
  process.stderr.write(`log double: unexpected arguments ${JSON.stringify(process.argv.slice(2))}\n`);
  process.exit(64);
}
if (verb === 'show') {
  process.stdout.write(fs.existsSync(spool) ? fs.readFileSync(spool, 'utf8') : '');
  process.exit(0);
}
process.stdout.write(`Filtering the log data using "${args[args.length - 1]}"\n`);
let offset = 0;
setInterval(() => {
  let text = '';
  try {
    const buf = fs.readFileSync(spool);
    text = buf.subarray(offset).toString('utf8');
    offset = buf.length;
  } catch {}
  if (text) process.stdout.write(text);
}, 20);
