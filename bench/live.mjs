// `npm run bench` part 6 (also alone: `node bench/live.mjs`): live approval (on by default;
// --no-live-approval is the plain-Landlock side).
//  a. per-command cost with live approval on: `bash -c true` vs `nono-shell -c true` (goal <= 2.0x).
//  b. a file-heavy command, `grep -r` over a generated tree of 10,000 files and `git status` in
//     it, routed with live approval on vs plain Landlock (goal <= 1.15x).
// Every session is in proxy mode, the default network: each command has the connect guard, and
// with live approval the guard and live approval share its one seccomp listener.
// The sessions' stdin is /dev/null: with a socket there (Node's default for a child's stdin) and
// SHLVL unset or 0, Debian's bash reads ~/.bashrc even for `bash -c true` (it takes a socket on
// stdin for an ssh session), and the figures would measure the user's .bashrc instead.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const timer = path.join(root, 'native', 'nono-bench-spawn');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const bash = path.join(root, 'proxy-bin', 'bash');
const iterations = Number(process.env.BENCH_ITERATIONS ?? 300);

const pct = (xs, p) => [...xs].sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const parse = (out) =>
  Object.fromEntries(out.trim().split('\n').filter((l) => /^[ab] /.test(l)).map((l) => [l[0], l.slice(2).split(' ').map((n) => Number(n) / 1e6)]));
const row = (label, a, b) => `${label.padEnd(52)}${a.padStart(9)}${b.padStart(9)}`;

function session(flags, n, warm, a, b, cwd) {
  const out = execFileSync(process.execPath, [cli, 'run', ...flags, '--', timer, String(n), String(warm), ...a, '--', ...b], {
    encoding: 'utf8', cwd, maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'],
  });
  return parse(out);
}

console.log('\n6a. per-command cost with live approval on (the default; proxy mode: connect guard on)');
const s = session(['--live-approval'], iterations, 20, ['/bin/bash', '-c', 'true'], [bash, '-c', 'true'], os.tmpdir());
// The same session without live approval, right after: the cost of live approval itself.
const off = session(['--no-live-approval'], iterations, 20, ['/bin/bash', '-c', 'true'], [bash, '-c', 'true'], os.tmpdir());
console.log(row('', 'p50 ms', 'p90 ms'));
console.log(row('bash -c true', pct(s.a, 50).toFixed(3), pct(s.a, 90).toFixed(3)));
console.log(row('nono-shell -c true (live approval on)', pct(s.b, 50).toFixed(3), pct(s.b, 90).toFixed(3)));
const r = pct(s.b, 50) / pct(s.a, 50);
console.log(`${row('ratio', `${r.toFixed(2)}x`, `${(pct(s.b, 90) / pct(s.a, 90)).toFixed(2)}x`)}\ngoal: ratio <= 2.0 at p50 -> ${r <= 2 ? 'met' : 'NOT met'}`);
console.log(row('  same session kind, live approval off', pct(off.b, 50).toFixed(3), pct(off.b, 90).toFixed(3)) +
  `  (ratio ${(pct(off.b, 50) / pct(off.a, 50)).toFixed(2)}x)`);

// b. The tree: 100 directories of 100 small files, in a git repository (status needs an index).
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nono-bench-live-'));
for (let d = 0; d < 100; d++) {
  fs.mkdirSync(path.join(dir, `d${d}`));
  for (let f = 0; f < 100; f++) fs.writeFileSync(path.join(dir, `d${d}`, `f${f}.txt`), `line ${d} ${f}\nneedle-${(d * 100 + f) % 997}\n`);
}
execFileSync('git', ['init', '-q'], { cwd: dir });
execFileSync('git', ['add', '-A'], { cwd: dir });
execFileSync('git', ['-c', 'user.name=b', '-c', 'user.email=b@b', 'commit', '-qm', 'tree'], { cwd: dir });
const n = Math.max(10, Math.floor(iterations / 10));
for (const [label, cmd] of [['grep -r over 10,000 files', 'grep -r --exclude-dir=.git needle-5 . >/dev/null; true'], ['git status in a 10,000-file repository', 'git status --porcelain >/dev/null; true']]) {
  // Alternate the two sessions a few times, so both see the same machine.
  const plain = [], live = [];
  for (let round = 0; round < 3; round++) {
    plain.push(...session(['--no-live-approval'], n, 3, ['/bin/bash', '-c', cmd], [bash, '-c', cmd], dir).b);
    live.push(...session(['--live-approval'], n, 3, ['/bin/bash', '-c', cmd], [bash, '-c', cmd], dir).b);
  }
  const ratio = pct(live, 50) / pct(plain, 50);
  console.log(`\n6b. ${label}: plain Landlock vs live approval on (routed, ${plain.length} runs each)`);
  console.log(row('', 'p50 ms', 'p90 ms'));
  console.log(row('plain Landlock', pct(plain, 50).toFixed(3), pct(plain, 90).toFixed(3)));
  console.log(row('live approval on', pct(live, 50).toFixed(3), pct(live, 90).toFixed(3)));
  console.log(`${row('ratio', `${ratio.toFixed(2)}x`, `${(pct(live, 90) / pct(plain, 90)).toFixed(2)}x`)}\ngoal: ratio <= 1.15 at p50 -> ${ratio <= 1.15 ? 'met' : 'NOT met'}`);
}
fs.rmSync(dir, { recursive: true, force: true });
