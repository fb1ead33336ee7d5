// `npm run bench`, part 3: the session proxy. A 100 MB download from a loopback server with curl,
// directly and through the proxy (CONNECT tunnel in the native relay, a plain absolute-form
// request, and, for reference, a CONNECT tunnel in the Node pipe fallback), alternating
// in one run so both sides share the machine's noise; then 50 concurrent transfers through the
// proxy, errors counted. The proxy runs in this process with the real gate (host lists) and
// per-command credentials, as in a session; the server runs in its own process.
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { SessionProxy } = await import(path.join(root, 'dist/supervisor/network/proxy-server.js'));
const { HostGate } = await import(path.join(root, 'dist/supervisor/network/host-gate.js'));
const { ProxyClients } = await import(path.join(root, 'dist/supervisor/network/proxy-clients.js'));

const curl = (args) =>
  new Promise((resolve) =>
    execFile('curl', ['-sS', '--max-time', '120', ...args], { env: { PATH: process.env.PATH }, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      resolve({ ok: !err, stdout, stderr }),
    ),
  );
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function benchNetwork({ runs = 5, megabytes = 100, concurrent = 50 } = {}) {
  const server = spawn(process.execPath, [path.join(root, 'bench', 'origin-server.mjs')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = Number(await new Promise((r) => server.stdout.once('data', (d) => r(String(d).trim()))));
  const clients = new ProxyClients();
  const { username, token } = clients.add({ seq: 1, command: 'bench', cwd: '/', say: async () => {}, ended: new AbortController().signal });
  const gate = new HostGate({ allow: [{ pattern: 'localhost', source: 'bench' }], deny: [], log: () => {} });
  const proxy = await SessionProxy.open({ maxConnections: 256 });
  proxy.serve({ authenticate: (u, p) => clients.authenticate(u, p), gate });
  const via = `http://${username}:${token}@127.0.0.1:${proxy.port}`;
  // The same proxy with the native relay off: the Node pipe that remains the fallback.
  const nodePipe = await SessionProxy.open({ maxConnections: 256, nativeRelay: false });
  nodePipe.serve({ authenticate: (u, p) => clients.authenticate(u, p), gate });
  const viaNodePipe = `http://${username}:${token}@127.0.0.1:${nodePipe.port}`;
  const url = `http://localhost:${port}/bytes?n=${megabytes * 1024 * 1024}`;
  const speed = async (args) => {
    const r = await curl(['-o', '/dev/null', '-w', '%{speed_download} %{size_download}', ...args, url]);
    const [bps, size] = r.stdout.split(' ').map(Number);
    if (!r.ok || size !== megabytes * 1024 * 1024) throw new Error(`download failed: ${r.stderr || r.stdout}`);
    return bps / (1024 * 1024);
  };
  const direct = [];
  const tunnel = [];
  const plain = [];
  const piped = [];
  try {
    await speed([]); // warm-up
    for (let i = 0; i < runs; i++) {
      direct.push(await speed([]));
      tunnel.push(await speed(['-p', '-x', via]));
      plain.push(await speed(['-x', via]));
      piped.push(await speed(['-p', '-x', viaNodePipe]));
    }
    console.log(`\n4. the session proxy: ${megabytes} MB from a loopback server with curl, ${runs} alternating runs (median MB/s)`);
    const row = (label, v) => console.log(`${label.padEnd(44)}${v.toFixed(0).padStart(9)}${(v / median(direct)).toFixed(2).padStart(8)}x`);
    console.log(`${''.padEnd(44)}${'MB/s'.padStart(9)}${'ratio'.padStart(9)}`);
    row('direct', median(direct));
    row('through the proxy (CONNECT tunnel)', median(tunnel));
    row('through the proxy (plain HTTP request)', median(plain));
    row('  (CONNECT tunnel, Node pipe fallback)', median(piped));
    const worst = Math.min(median(tunnel), median(plain)) / median(direct);
    console.log(`goal: >= 0.80x of direct -> ${worst >= 0.8 ? 'met' : 'NOT met'}`);

    const urls = Array.from({ length: concurrent }, (_, i) => `http://localhost:${port}/bytes?n=${1024 * 1024}&i=${i}`);
    const started = process.hrtime.bigint();
    const r = await curl(['-p', '-x', via, '--parallel', '--parallel-immediate', '--parallel-max', String(concurrent), '-w', '%{http_code} %{size_download}\n', ...urls.flatMap((u) => ['-o', '/dev/null', u])]);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const lines = r.stdout.trim().split('\n').filter(Boolean);
    const good = lines.filter((l) => l === `200 ${1024 * 1024}`).length;
    console.log(`${concurrent} concurrent 1 MB transfers through the proxy: ${good} ok, ${concurrent - good} errors, ${ms.toFixed(0)} ms${r.ok ? '' : ` (curl: ${r.stderr.trim()})`}`);
    console.log(`goal: 0 errors -> ${good === concurrent ? 'met' : 'NOT met'}`);
  } finally {
    await proxy.close();
    await nodePipe.close();
    server.stdin.end();
  }
}
