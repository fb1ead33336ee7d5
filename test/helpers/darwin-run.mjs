#!/usr/bin/env node
// `nono run` with the darwin backend selected explicitly, for test/darwin-run.test.ts: the real
// run() (session, supervisor, agent start, routes, preload check), with the stand-ins for what only
// a Mac has: the Seatbelt helper double, the `log` double, and a process table read from /proc.
//   node darwin-run.mjs [--interposer FILE] [--shell-prefix] -- PROGRAM [ARG...]
// Environment: NONO_SIM_RECORD / NONO_SIM_SPOOL as the doubles want them; NONO_SIM_EVENTS for
// --json-events; NONO_SIM_VERBOSE=1 for --verbose.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { run } = await import(path.join(root, 'dist/cli/run.js'));
const { readStat } = await import(path.join(root, 'dist/supervisor/process-tree.js'));

const argv = process.argv.slice(2);
let interposer = path.join(root, 'native/libnono-interpose.dylib');
let shellPrefix = false;
while (argv.length && argv[0] !== '--') {
  const a = argv.shift();
  if (a === '--interposer') interposer = argv.shift();
  else if (a === '--shell-prefix') shellPrefix = true;
  else throw new Error(`darwin-run: unknown option ${a}`);
}
argv.shift();
const [program, ...args] = argv;
// With each executable, as the addon's sysctl table gives it on macOS (proc_pidpath).
const exeOf = (n) => {
  try {
    return fs.readlinkSync(`/proc/${n}/exe`);
  } catch {
    return undefined;
  }
};
const procTable = () =>
  fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map((n) => {
    const s = readStat(Number(n));
    const exe = s && exeOf(n);
    return s && (exe ? { ...s, exe } : s);
  }).filter((s) => s !== undefined);
const backend = {
  kind: 'darwin',
  helper: path.join(root, 'test/helpers/seatbelt-double.mjs'),
  logBinary: path.join(root, 'test/helpers/log-double.mjs'),
  interposer,
  processTable: procTable,
};
// As `nono run` (src/cli/main.ts) ends a run that could not start: one line, 126.
const out = await run(program, args, {
  cli: {},
  agentSandbox: true,
  verbose: process.env.NONO_SIM_VERBOSE === '1',
  oneShot: false,
  shellPrefix,
  onDenial: 'prompt',
  jsonEvents: process.env.NONO_SIM_EVENTS || undefined,
  backend,
}).catch((e) => {
  process.stderr.write(`nono: ${e.message.replace(/^nono: /, '')}\n`);
  return { code: 126 };
});
process.exit(out.code);
