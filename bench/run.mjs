// `npm run bench`: side-by-side timings, printed as ratios measured in one run (this machine is a
// noisy shared VM: absolute figures move 10-20 % between runs, ratios much less).
//  1. per-command cost: `bash -c true` vs `nono-shell -c true` routed through a live `nono run`
//     session (client -> supervisor -> fresh Landlock domain -> bash -> exit status back).
//  2. interposer cost on the non-shell path: 200 `/bin/true` from a shell loop, with and without
//     the interposer preloaded.
//  3. memory: peak RSS of nono's processes (the supervisor, its watchdog and helpers, and the
//     nono-shell clients) with 32 commands in flight, each with its stderr relayed.
//  4. the session proxy: a 100 MB download directly and through it, and 50 concurrent transfers.
//  5. the connect guard (proxy mode): TCP connects from a sandboxed command to a loopback
//     listener, with the port allowed by Landlock alone vs decided and made by the guard.
//  6. live approval (bench/live.mjs): per-command cost with it on, and a file-heavy command
//     (grep -r, git status over 10,000 files) with it on vs plain Landlock.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const native = (f) => path.join(root, 'native', f);
const timer = native('nono-bench-spawn');
for (const f of [timer, native('nono-shell'), path.join(root, 'dist', 'cli', 'main.js')]) {
  if (!fs.existsSync(f)) throw new Error(`${f} is missing: run \`npm install\` first`);
}

const iterations = Number(process.env.BENCH_ITERATIONS ?? 300);
const warmup = 20;

function parse(out) {
  const lines = Object.fromEntries(
    out.trim().split('\n').filter((l) => /^[ab] /.test(l)).map((l) => [l[0], l.slice(2).split(' ').map((n) => Number(n) / 1e6)]),
  );
  return lines;
}
const pct = (xs, p) => {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const row = (label, a, b) => `${label.padEnd(44)}${a.padStart(9)}${b.padStart(9)}`;

function report(title, labels, samples, goal) {
  const [a, b] = [samples.a, samples.b];
  console.log(`\n${title}`);
  console.log(row('', 'p50 ms', 'p90 ms'));
  console.log(row(labels[0], pct(a, 50).toFixed(3), pct(a, 90).toFixed(3)));
  console.log(row(labels[1], pct(b, 50).toFixed(3), pct(b, 90).toFixed(3)));
  const r50 = pct(b, 50) / pct(a, 50);
  const r90 = pct(b, 90) / pct(a, 90);
  console.log(row('ratio', `${r50.toFixed(2)}x`, `${r90.toFixed(2)}x`));
  console.log(`goal: ${goal.text} -> ${goal.ok(r50) ? 'met' : 'NOT met'}`);
}

console.log(
  `nono benchmark: ${os.cpus().length} cores, ${os.release()}, ${iterations} alternating runs each after ${warmup} warm-up runs` +
    `; NODE_EXTRA_CA_CERTS ${process.env.NODE_EXTRA_CA_CERTS ? 'set' : 'unset'} (no Node process is on the measured paths)`,
);

// 1. Inside a real session: the timer is the "agent" (static, so the preload does not route its
// own bash; the routed side goes through proxy-bin/bash = nono-shell, as Claude Code's SHELL does).
// The default session sends commands through its proxy (connect guard on each command, where the
// kernel has it); the extra line is the same session with --allow-net (no proxy, no guard), run
// right after, so the guard's own cost shows side by side.
const session = (extra) =>
  parse(
    execFileSync(
      process.execPath,
      [path.join(root, 'dist', 'cli', 'main.js'), 'run', ...extra, '--', timer, String(iterations), String(warmup),
        '/bin/bash', '-c', 'true', '--', path.join(root, 'proxy-bin', 'bash'), '-c', 'true'],
      // stdin /dev/null, not Node's default socket: Debian's bash reads ~/.bashrc even for
      // `bash -c` when its stdin is a socket (its rshd heuristic) at SHLVL 0, which made both
      // sides measure whatever ~/.bashrc runs (bench/live.mjs says the same).
      { encoding: 'utf8', cwd: os.tmpdir(), maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] },
    ),
  );
const guarded = session([]);
const unguarded = session(['--allow-net']);
report('1. per-command cost (issue: whole path)', ['bash -c true', 'nono-shell -c true (routed, sandboxed)'], guarded, {
  text: 'ratio <= 2.0 at p50',
  ok: (r) => r <= 2.0,
});
console.log(
  row('  same, --allow-net (no proxy, no guard)', pct(unguarded.b, 50).toFixed(3), pct(unguarded.b, 90).toFixed(3)) +
    `   ratio ${(pct(unguarded.b, 50) / pct(unguarded.a, 50)).toFixed(2)}x (bash -c true there: ${pct(unguarded.a, 50).toFixed(3)} ms)`,
);

// 2. Interposer on the non-shell path: same env exec on both sides, only LD_PRELOAD differs.
const loop = 'for i in $(seq 200); do /bin/true; done';
const preloadOut = execFileSync(
  timer,
  [String(Math.max(20, Math.floor(iterations / 10))), '3',
    '/usr/bin/env', '/bin/bash', '-c', loop, '--',
    '/usr/bin/env', `LD_PRELOAD=${native('libnono-interpose.so')}`, `NONO_SHELL_CLIENT=${native('nono-shell')}`, '/bin/bash', '-c', loop],
  { encoding: 'utf8', maxBuffer: 64 << 20 },
);
report('2. 200 sequential /bin/true from a shell loop (interposer cost)', ['without the interposer', 'with the interposer preloaded'], parse(preloadOut), {
  text: 'ratio <= 1.05 at p50',
  ok: (r) => r <= 1.05,
});

// 3. Memory with 32 commands in flight. The agent (a small Node script, not counted) starts 32
// `bash -c 'sleep ...'` through proxy-bin/bash with stdout and stderr on pipes, as agents capture
// them, so every command has its stderr relayed through the supervisor. /proc is sampled every
// 20 ms; RSS counts shared pages (the node binary, the static clients) in every process that maps
// them, which is what `ps` and the goal count. PSS (shared pages divided among their users) is
// printed too: it depends on what else runs on the machine.
const IN_FLIGHT = 32;
const MEMORY_GOAL_MB = 80;
const agentScript = `
const { spawn } = require('node:child_process');
let left = ${IN_FLIGHT}, failed = 0;
for (let i = 0; i < ${IN_FLIGHT}; i++) {
  const p = spawn(${JSON.stringify(path.join(root, 'proxy-bin', 'bash'))}, ['-c', 'sleep 3; echo done-' + i + ' >&2'], { stdio: ['ignore', 'pipe', 'pipe'] });
  p.stdout.resume(); p.stderr.resume();
  p.on('close', (code) => { if (code !== 0) failed++; if (--left === 0) { console.log('failed=' + failed); } });
}`;
const kb = (pid, file, key) => {
  try {
    return Number(new RegExp(`(?:^|\\n)${key}:\\s+(\\d+)`).exec(fs.readFileSync(`/proc/${pid}/${file}`, 'utf8'))[1]);
  } catch {
    return 0;
  }
};
const exeOf = (pid) => {
  try {
    return fs.readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return '';
  }
};
const childrenOf = (pid) => {
  try {
    return fs.readdirSync(`/proc/${pid}/task`).flatMap((t) =>
      fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number));
  } catch {
    return [];
  }
};
const memory = await new Promise((resolve, reject) => {
  const nono = spawn(process.execPath, [path.join(root, 'dist', 'cli', 'main.js'), 'run', '--', process.execPath, '-e', agentScript], {
    cwd: os.tmpdir(),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  nono.stdout.on('data', (d) => (out += d));
  const peak = { total: 0, supervisor: 0, watchdog: 0, helpers: 0, clients: 0, nClients: 0, pss: 0 };
  const timer = setInterval(() => {
    const tree = [];
    for (const queue = [nono.pid]; queue.length; ) {
      const pid = queue.pop();
      tree.push(pid);
      queue.push(...childrenOf(pid));
    }
    const ours = (suffix) => tree.filter((pid) => exeOf(pid) === native(suffix));
    const sum = (pids, file = 'status', key = 'VmRSS') => pids.reduce((a, pid) => a + kb(pid, file, key), 0);
    const clients = ours('nono-shell');
    const now = {
      supervisor: kb(nono.pid, 'status', 'VmRSS'),
      watchdog: sum(ours('nono-watchdog')),
      helpers: sum(ours('nono-landlock-exec')),
      clients: sum(clients),
      nClients: clients.length,
    };
    const total = now.supervisor + now.watchdog + now.helpers + now.clients;
    const pss = sum([nono.pid, ...ours('nono-watchdog'), ...ours('nono-landlock-exec'), ...clients], 'smaps_rollup', 'Pss');
    if (total > peak.total) Object.assign(peak, now, { total });
    peak.supervisorMax = Math.max(peak.supervisorMax ?? 0, now.supervisor);
    peak.pss = Math.max(peak.pss, pss);
  }, 20);
  nono.on('error', reject);
  nono.on('exit', (code) => {
    clearInterval(timer);
    if (code !== 0 || !/failed=0/.test(out)) reject(new Error(`memory run failed (exit ${code}): ${out}`));
    else resolve(peak);
  });
});
const mb = (k) => (k / 1024).toFixed(1);
console.log(`\n3. memory with ${IN_FLIGHT} commands in flight (peak of the sum, sampled every 20 ms)`);
console.log(row('', 'RSS MB', ''));
console.log(row('supervisor (the nono run process)', mb(memory.supervisor), ''));
console.log(row('watchdog', mb(memory.watchdog), ''));
console.log(row('exec helper (while it starts the agent)', mb(memory.helpers), ''));
console.log(row(`nono-shell clients (${memory.nClients} at that moment)`, mb(memory.clients), ''));
console.log(row('total', mb(memory.total), ''));
console.log(row('supervisor alone, its own peak', mb(memory.supervisorMax), ''));
console.log(row('total PSS (shared pages split among users)', mb(memory.pss), ''));
console.log(`goal: total RSS <= ${MEMORY_GOAL_MB} MB -> ${memory.total / 1024 <= MEMORY_GOAL_MB ? 'met' : 'NOT met'}`);

// 4. The session proxy: throughput against direct, and concurrent connections (bench/network.mjs).
const { benchNetwork } = await import('./network.mjs');
await benchNetwork({ runs: Number(process.env.BENCH_NET_RUNS ?? 5) });

// 5. The connect guard: the same sandboxed spawn (addon) and static connect timer on both sides;
// only `connectGuard` differs. Rounds alternate so both sides see the same noise.
{
  const { createRequire } = await import('node:module');
  const net = await import('node:net');
  const addon = createRequire(import.meta.url)(native('nono_addon.node'));
  const connectTimer = native('nono-bench-connect');
  if (!addon.connectGuardSupported() || !fs.existsSync(connectTimer)) {
    console.log('\n5. connect guard: not measured (not supported by this kernel, or native/nono-bench-connect missing)');
  } else {
    const { handledFsForAbi, READ_RIGHTS, NET } = await import(path.join(root, 'dist', 'policy', 'landlock-rights.js'));
    const server = net.createServer((c) => c.destroy());
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const port = server.address().port;
    const handledFs = handledFsForAbi(addon.landlockAbi());
    const ruleset = addon.createRuleset({ handledFs, handledNet: NET.CONNECT_TCP | NET.BIND_TCP });
    addon.addPathRule(ruleset, '/', READ_RIGHTS, handledFs);
    addon.addPortRule(ruleset, port, NET.CONNECT_TCP);
    const perRound = 400;
    const rounds = Math.max(4, Math.floor(iterations / 30));
    const outFile = path.join(os.tmpdir(), `nono-bench-connect-${process.pid}`);
    const runOnce = (guarded) =>
      new Promise((resolve, reject) => {
        const out = fs.openSync(outFile, 'w');
        addon.spawn(
          {
            file: connectTimer, argv: ['nono-bench-connect', String(port), String(perRound)], env: [], cwd: '/',
            stdio: [out, out, out], rulesetFd: ruleset, netFilter: 2,
            ...(guarded ? { connectGuard: { proxyPort: port, loopbackPorts: [] } } : {}),
          },
          () => {
            const text = fs.readFileSync(outFile, 'utf8');
            const m = /^connects \d+ (\d+) (\d+)/m.exec(text);
            m ? resolve([Number(m[1]) / 1e3, Number(m[2]) / 1e3]) : reject(new Error(`connect timer: ${text}`));
          },
        );
        fs.closeSync(out);
      });
    const samples = { a: [], b: [] };
    for (let i = 0; i < rounds; i++) {
      samples.a.push(await runOnce(false));
      samples.b.push(await runOnce(true));
    }
    fs.rmSync(outFile, { force: true });
    server.close();
    addon.closeFd(ruleset);
    // Each round gives its own p50 and p90 of ${perRound} connects; the median round of each is shown.
    const med = (xs, k) => pct(xs.map((x) => x[k]), 50);
    console.log(`\n5. TCP connect to a loopback listener from a sandboxed command (${rounds} alternating rounds of ${perRound})`);
    console.log(row('', 'p50 us', 'p90 us'));
    console.log(row('Landlock port rule only', med(samples.a, 0).toFixed(1), med(samples.a, 1).toFixed(1)));
    console.log(row('connect guard (proxy mode)', med(samples.b, 0).toFixed(1), med(samples.b, 1).toFixed(1)));
    console.log(row('ratio', `${(med(samples.b, 0) / med(samples.a, 0)).toFixed(1)}x`, `${(med(samples.b, 1) / med(samples.a, 1)).toFixed(1)}x`));
    console.log(`connects per second, one thread: ${Math.round(1e6 / med(samples.a, 0))} -> ${Math.round(1e6 / med(samples.b, 0))}`);
  }
}
await import("./live.mjs");
