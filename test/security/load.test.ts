// Load: 64 commands through one supervisor at the same time, as an agent running a test suite in
// parallel would. Each one's stdout, stderr, stdin and exit status must be its own and intact:
// one supervisor process hands every command its own descriptors, and any mix-up (a descriptor
// given to the wrong command, a closed one reused too early) shows up as foreign or missing bytes.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { expect, it } from 'vitest';
import { proxyBash } from '../helpers/paths.js';
import { setupRig } from './harness.js';

const rig = setupRig();

const N = 64;
const LINES = 20_000;
const BIG = 100 * 1024 * 1024;
const STDIN = 10 * 1024 * 1024;

const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

/** Runs `script` through nono-shell; stdout is hashed and counted as it streams (100 MB). */
function streamed(script: string, input?: Buffer) {
  const p = spawn(proxyBash, ['-c', script], { cwd: rig.home.project, env: rig.s.env, stdio: ['pipe', 'pipe', 'pipe'] });
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  let stderr = '';
  let head = '';
  p.stdout!.on('data', (d: Buffer) => {
    hash.update(d);
    bytes += d.length;
    if (head.length < 4096) head += d.subarray(0, 4096).toString('latin1');
  });
  p.stderr!.on('data', (d) => (stderr += d));
  p.stdin!.on('error', () => {}); // a command that exits early: EPIPE is not the test's concern
  p.stdin!.end(input);
  return new Promise<{ code: number | null; signal: string | null; sha: string; bytes: number; head: string; stderr: string }>((resolve) =>
    p.on('close', (code, signal) => resolve({ code, signal, sha: hash.digest('hex'), bytes, head, stderr })),
  );
}

it(`runs ${N} commands at once, each with its own output: ${N - 2} token writers, 100 MB of binary out, 10 MB in`, async () => {
  const dir = path.join(rig.home.project, 'rendezvous');
  fs.mkdirSync(dir, { recursive: true });
  // Every command checks in; the token writers start writing only once all N are running, so
  // their output really is interleaved in time. One write(2) per line (bash's echo), to give a
  // mix-up many chances to show.
  const checkIn = (i: number) => `touch ${dir}/${i}`;
  const waitAll = `for t in $(seq 600); do [ $(ls ${dir} | wc -l) -ge ${N} ] && break; sleep 0.05; done; echo "saw $(ls ${dir} | wc -l)" >&2`;

  const tokens = Array.from({ length: N - 2 }, () => crypto.randomBytes(12).toString('hex'));
  const writers = tokens.map((tok, i) =>
    execa(proxyBash, ['-c', `${checkIn(i)}; ${waitAll}; for ((k = 0; k < ${LINES}; k++)); do echo ${tok}; done; echo ${tok}-err >&2; exit ${i + 1}`], {
      cwd: rig.home.project,
      env: rig.s.env,
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
      timeout: 120_000,
    }),
  );
  const big = streamed(`${checkIn(N - 2)}; head -c ${BIG} /dev/urandom | tee big.out`);
  const input = crypto.randomBytes(STDIN);
  const reader = streamed(`${checkIn(N - 1)}; sha256sum -b | cut -d' ' -f1`, input);

  const [results, bigR, readerR] = await Promise.all([Promise.all(writers), big, reader]);

  results.forEach((r, i) => {
    const tok = tokens[i]!;
    expect(r.exitCode, r.stderr).toBe(i + 1);
    expect(r.stderr).toBe(`saw ${N}\n${tok}-err`);
    // Byte-exact: the right token, the right count, nothing else.
    expect(r.stdout.length).toBe(LINES * (tok.length + 1) - 1);
    expect(r.stdout === `${tok}\n`.repeat(LINES).slice(0, -1), `command ${i}: output differs (foreign bytes?)`).toBe(true);
  });

  expect(bigR.code, bigR.stderr).toBe(0);
  expect(bigR.bytes).toBe(BIG);
  expect(bigR.sha).toBe(sha256(fs.readFileSync(path.join(rig.home.project, 'big.out'))));

  expect(readerR.code, readerR.stderr).toBe(0);
  expect(readerR.stderr).toBe('');
  expect(readerR.head).toBe(`${sha256(input)}\n`);

  expect(fs.readdirSync(dir)).toHaveLength(N);
  fs.rmSync(path.join(rig.home.project, 'big.out'));
}, 180_000);
