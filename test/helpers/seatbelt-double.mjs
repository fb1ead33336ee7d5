#!/usr/bin/env node
// Stand-in for nono-seatbelt-exec (the Seatbelt kernel exists only on a Mac). Same command line:
//   --profile FILE [-D K=V]... [--ignore-signal N]... [--exec-report FILE] -- PROGRAM [ARG...]
// It records the profile and arguments it was given (one JSON line in $NONO_SIM_RECORD), checks
// the SBPL with nono's evaluator the way sandbox_init would refuse a broken one (it must parse,
// every (param "K") must have a -D), then decides the access the scenario says the command
// makes ($NONO_SIM_PROBE = "operation path"): refused -> it does what the kernel does, one
// unified-log line (appended to $NONO_SIM_SPOOL, which the `log` double replays) and EPERM for
// the command, printed as the tool would; allowed -> it runs the command and exits as it did.
// The exec itself is decided as the kernel would: the program, and for a #! script its
// interpreter (through `env`), must be allowed process-exec and file-read-data, or the exec fails
// with EPERM (reported in the --exec-report file, as the real helper does, or on stderr).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { parseSbpl, decide } = await import(path.join(root, 'dist/policy/sbpl-eval.js'));
const die = (m) => {
  process.stderr.write(`nono-seatbelt-exec: ${m}\n`);
  process.exit(126);
};

const argv = process.argv.slice(2);
let profile;
const params = {};
const ignored = [];
let report;
let i = 0;
for (; i < argv.length; i++) {
  if (argv[i] === '--') { i++; break; }
  if (argv[i] === '--profile') profile = argv[++i];
  else if (argv[i] === '-D') { const [k, ...v] = argv[++i].split('='); params[k] = v.join('='); }
  else if (argv[i] === '--ignore-signal') ignored.push(Number(argv[++i]));
  else if (argv[i] === '--exec-report') { report = argv[++i]; fs.writeFileSync(report, ''); }
  else die(`unknown option ${argv[i]}`);
}
if (!profile) die('--profile FILE is required');
const program = argv.slice(i);
if (!program[0]?.startsWith('/')) die(`the program must be an absolute path, got ${program[0]}`);
const sbpl = fs.readFileSync(profile, 'utf8');
for (const m of sbpl.matchAll(/\(param "([^"]+)"\)/g)) if (!(m[1] in params)) die(`the sandbox refused the profile: undefined parameter ${m[1]}`);
let rules;
try {
  rules = parseSbpl(sbpl);
} catch (e) {
  die(`the sandbox refused the profile ${profile}: ${e.message}`);
}
// What dyld would see: the preload variable and Claude Code's wrapping point, as given to it.
const dyld = { DYLD_INSERT_LIBRARIES: process.env.DYLD_INSERT_LIBRARIES, LD_PRELOAD: process.env.LD_PRELOAD, CLAUDE_CODE_SHELL_PREFIX: process.env.CLAUDE_CODE_SHELL_PREFIX };
fs.appendFileSync(process.env.NONO_SIM_RECORD, JSON.stringify({ pid: process.pid, profile, sbpl, params, program, ignored, env: dyld }) + '\n');

// The files the exec reads and runs: the program, its #! interpreter, and what `env` finds.
function execChain(file) {
  const chain = [];
  for (let f = file, depth = 0; f && depth < 4; depth++) {
    let real;
    try {
      real = fs.realpathSync(f);
    } catch {
      break; // missing: the exec below says ENOENT
    }
    chain.push(real);
    const head = fs.readFileSync(real).subarray(0, 256).toString('latin1');
    if (!head.startsWith('#!')) break;
    const [interp, arg] = head.slice(2).split('\n')[0].trim().split(/\s+/);
    f = path.basename(interp) === 'env' && arg
      ? (chain.push(fs.realpathSync(interp)), (process.env.PATH ?? '').split(':').map((d) => path.join(d, arg)).find((c) => fs.existsSync(c)))
      : interp;
  }
  return chain;
}
for (const f of execChain(program[0])) {
  if (decide(rules, 'process-exec', f).allowed && decide(rules, 'file-read-data', f).allowed) continue;
  if (report) fs.writeFileSync(report, '1 Operation not permitted\n');
  else process.stderr.write(`nono-seatbelt-exec: cannot execute ${program[0]}: Operation not permitted\n`);
  process.exit(126);
}

const probe = process.env.NONO_SIM_PROBE;
if (probe) {
  const [op, ...rest] = probe.split(' ');
  const target = rest.join(' ');
  const d = decide(rules, op, target);
  if (!d.allowed) {
    // The session's tag: given by the test, or read from the profile as the kernel would carry it.
    const tag = process.env.NONO_SIM_TAG ?? /\(with message "([^":]+):/.exec(sbpl)?.[1];
    const tagged = d.rule !== 'default' ? `\n${tag}:${d.rule.id}` : '';
    const record = {
      eventMessage: `Sandbox: cat(${process.pid}) deny(1) ${op} ${target}${tagged}`,
      eventType: 'logEvent', subsystem: '', category: '', processImagePath: '/kernel',
      senderImagePath: '/System/Library/Extensions/Sandbox.kext/Contents/MacOS/Sandbox',
      timestamp: new Date().toISOString(), messageType: 'Error', processID: 0,
    };
    // NONO_SIM_LOG=off: the kernel's line never reaches the log (dropped, or late beyond the
    // fallback's window); only the command's own message says what happened.
    if (process.env.NONO_SIM_LOG !== 'off') fs.appendFileSync(process.env.NONO_SIM_SPOOL, JSON.stringify(record) + '\n');
    process.stderr.write(`cat: ${target}: Operation not permitted\n`);
    process.exit(1);
  }
}
for (const s of ignored) process.on(s, () => {});
const r = spawnSync(program[0], program.slice(1), { stdio: 'inherit', argv0: program[0] });
if (r.error) {
  // The exec itself failed (missing, not executable): what the helper's execv would report.
  const errno = { ENOENT: 2, EACCES: 13, ENOEXEC: 8 }[r.error.code] ?? 13;
  if (report) fs.writeFileSync(report, `${errno} ${r.error.code === 'ENOENT' ? 'No such file or directory' : 'Permission denied'}\n`);
  else process.stderr.write(`nono-seatbelt-exec: cannot execute ${program[0]}: ${r.error.message}\n`);
  process.exit(errno === 2 ? 127 : 126);
}
if (r.signal) {
  process.removeAllListeners(r.signal);
  process.kill(process.pid, r.signal);
}
process.exit(r.status ?? 126);
