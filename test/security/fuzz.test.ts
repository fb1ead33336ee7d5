// The supervisor socket against a client that holds the session secret but does not speak the
// protocol properly: broken framing, wrong types, wrong descriptor counts, and 10,000 random
// mutations of a valid run frame. What must hold for every one of them:
//   - it is answered with an `error` reply or a closed connection, and nothing is executed (a
//     marker command `touch FILE` never runs, and the supervisor records no command) unless the
//     frame really was valid: first on its connection, right secret, exactly 3 descriptors;
//   - every descriptor the supervisor received is closed again (pipe probes reach EOF, and the
//     number of open descriptors of this process, the supervisor's, is back where it was);
//   - the supervisor keeps serving real commands afterwards.
// The client is fuzz-client.py (the system python: Node's `net` cannot send descriptors).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadAddon } from '../../src/native/addon.js';
import { proxyBash } from '../helpers/paths.js';
import { PY, isAlive, setupRig, sleep, waitFor } from './harness.js';

const rig = setupRig();
const CLIENT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fuzz-client.py');
const MAX = 1 << 20;
const FUZZ_FRAMES = 10_000;
const WORKERS = 8;
/**
 * Fixed, so the mutation choices repeat from run to run (the session's secret and temp paths still
 * differ, so frames are not byte-identical); NONO_FUZZ_SEED=... explores others.
 */
const SEED = process.env.NONO_FUZZ_SEED ?? 'nono-fuzz-1';

let markers: string;
let fdsBefore = 0;

const openFds = () => fs.readdirSync(`/proc/${process.pid}/fd`).length;

function clientEnv(): Record<string, string> {
  return {
    PATH: '/usr/bin:/bin',
    FUZZ_SOCKET: rig.s.session.socketPath,
    FUZZ_SECRET: rig.s.session.secret,
    FUZZ_PROJECT: rig.home.project,
    FUZZ_MARKERS: markers,
  };
}

beforeAll(async () => {
  markers = path.join(rig.home.project, 'markers');
  fs.mkdirSync(markers);
  // One real command first, so descriptors the supervisor opens once (lazily) are in the baseline.
  const r = await execa(proxyBash, ['-c', 'echo warm'], { cwd: rig.home.project, env: rig.s.env, extendEnv: false });
  expect(r.stdout).toBe('warm');
  fdsBefore = openFds();
});

// ---------------------------------------------------------------------------------------------
// Frames, by hand
// ---------------------------------------------------------------------------------------------
interface Reply {
  type: string;
  message?: string;
  code?: number;
}
interface ScriptResult {
  replies: Reply[];
  end: 'eof' | 'reset' | 'timeout' | 'client-closed';
  sendError: string | null;
  leaks: number;
}
interface Step {
  bytes: Buffer;
  fds?: number;
  probe?: boolean;
  probeAt?: number;
  sleep?: number;
}

async function script(steps: Step[], opts: { read?: boolean } = {}): Promise<ScriptResult> {
  const spec = {
    steps: steps.map((s) => ({ b64: s.bytes.toString('base64'), fds: s.fds ?? 0, probe: s.probe ?? true, probeAt: s.probeAt ?? 0, sleep: s.sleep ?? 0 })),
    read: opts.read ?? true,
  };
  const r = await execa(PY, [CLIENT, 'script'], { input: JSON.stringify(spec), env: clientEnv(), extendEnv: false, reject: false, timeout: 30_000 });
  if (r.exitCode !== 0) throw new Error(`fuzz client failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as ScriptResult;
}

function frame(payload: Buffer | string | object, length?: number): Buffer {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload));
  const hdr = Buffer.alloc(4);
  hdr.writeUInt32LE(length ?? body.length);
  return Buffer.concat([hdr, body]);
}

let nextMarker = 0;
/** A valid run frame whose command creates a fresh marker file; `over` changes fields. */
function runFrame(over: Record<string, unknown> = {}, command?: (marker: string) => string) {
  const marker = path.join(markers, `case-${++nextMarker}`);
  const obj = {
    v: 1,
    type: 'run',
    secret: rig.s.session.secret,
    client_pid: process.pid,
    cwd: rig.home.project,
    shell_as: null,
    argv: ['bash', '-c', command ? command(marker) : `touch ${marker}`],
    env: ['PATH=/usr/bin:/bin'],
    ignored_signals: [],
    ...over,
  };
  return { obj, marker, bytes: frame(obj) };
}

/** Refused: an error reply (matching `message`) or, if `message` is null, closed without one. */
function expectRefused(r: ScriptResult, message: RegExp | null, marker?: string) {
  if (message) {
    expect(r.replies.map((x) => x.type)).toEqual(['error']);
    expect(r.replies[0]!.message).toMatch(message);
  } else {
    expect(r.replies).toEqual([]);
  }
  expect(r.end).not.toBe('timeout');
  expect(r.leaks, 'a descriptor sent to the supervisor was never closed').toBe(0);
  if (marker) expect(fs.existsSync(marker), 'the command ran').toBe(false);
}

describe('hand-made bad frames (each with the right secret and descriptors where it matters)', () => {
  it('a connection closed in the middle of a frame: nothing runs, the descriptors are closed', async () => {
    const { bytes, marker } = runFrame();
    const r = await script([{ bytes: bytes.subarray(0, bytes.length >> 1), fds: 3 }], { read: false });
    expectRefused(r, null, marker);
    const r2 = await script([{ bytes: bytes.subarray(0, 2), fds: 3 }], { read: false });
    expectRefused(r2, null);
  });

  it.each([
    ['2 MiB', 2 << 20],
    ['1 MiB + 1', MAX + 1],
    ['0xffffffff', 0xffffffff],
  ])('a header announcing %s: the connection is closed, nothing runs', async (_what, n) => {
    const { obj, marker } = runFrame();
    const r = await script([{ bytes: frame(obj, n), fds: 3 }]);
    expectRefused(r, null, marker);
    expect(r.end).toBe('eof');
  });

  it('a valid frame of exactly 1 MiB runs; the same frame one byte longer does not', async () => {
    const pad = (o: object, size: number) => {
      const json = JSON.stringify(o);
      return Buffer.from(json.slice(0, -1) + ' '.repeat(size - json.length) + '}'); // JSON whitespace
    };
    const ok = runFrame();
    const r = await script([{ bytes: frame(pad(ok.obj, MAX)), fds: 3 }]);
    expect(r.replies).toEqual([{ v: 1, type: 'exit', code: 0 }]);
    expect(fs.existsSync(ok.marker)).toBe(true);
    const tooBig = runFrame();
    expectRefused(await script([{ bytes: frame(pad(tooBig.obj, MAX + 1)), fds: 3 }]), null, tooBig.marker);
  });

  it.each([
    ['v 2', { v: 2 }, /protocol version 2 is not supported \(this supervisor speaks 1\)/],
    ['v 0', { v: 0 }, /protocol version 0 is not supported/],
  ])('wrong version (%s): an error naming both versions, nothing runs', async (_what, over, msg) => {
    const { bytes, marker } = runFrame(over);
    expectRefused(await script([{ bytes, fds: 3 }]), msg, marker);
  });

  it.each([
    ['the string "1"', '1'],
    ['the array [1]', [1]],
  ])('a version that is %s: refused, with a message that does not contradict itself', async (_what, v) => {
    const { bytes, marker } = runFrame({ v });
    const r = await script([{ bytes, fds: 3 }]);
    expectRefused(r, /./, marker);
    // "version 1 is not supported (this supervisor speaks 1)" would tell the user nothing.
    expect(r.replies[0]!.message).not.toMatch(/version 1 is not supported \(this supervisor speaks 1\)/);
  });

  it('bytes that are not UTF-8 inside a string: an error, nothing runs', async () => {
    const { obj, marker } = runFrame();
    const json = Buffer.from(JSON.stringify(obj));
    const at = json.indexOf(Buffer.from('touch ')) + 2;
    const bad = Buffer.concat([json.subarray(0, at), Buffer.from([0xff, 0xfe]), json.subarray(at)]);
    expectRefused(await script([{ bytes: frame(bad), fds: 3 }]), /not UTF-8 JSON/, marker);
  });

  it.each([
    ['argv', 'a string', { argv: 'bash -c true' }],
    ['argv', 'empty', { argv: [] }],
    ['argv', 'a number inside', { argv: ['bash', 1] }],
    ['argv', 'a NUL byte inside', { argv: ['bash', '-c', 'true\u0000rm'] }],
    ['env', 'a number', { env: 5 }],
    ['env', 'an entry without =', { env: ['NOEQUALS'] }],
    ['cwd', 'null', { cwd: null }],
    ['cwd', 'empty', { cwd: '' }],
    ['client_pid', 'a string', { client_pid: '1' }],
    ['client_pid', 'negative', { client_pid: -1 }],
    ['shell_as', 'a number', { shell_as: 1 }],
    ['secret', 'a number', { secret: 5 }],
    ['ignored_signals', 'out of range', { ignored_signals: [65] }],
    ['ignored_signals', 'not integers', { ignored_signals: [2.5] }],
    ['type', 'unknown', { type: 'exec' }],
    ['extra', 'an unknown field', { extra: true }],
  ])('field %s (%s): an error naming the field, nothing runs', async (field, _what, over) => {
    const { bytes, marker } = runFrame(over);
    const r = await script([{ bytes, fds: 3 }]);
    expectRefused(r, /invalid request/, marker);
    expect(r.replies[0]!.message).toContain(field === 'extra' ? 'extra' : field);
  });

  it('a missing field: an error naming it, nothing runs', async () => {
    const { obj, marker } = runFrame();
    const { env: _dropped, ...rest } = obj;
    const r = await script([{ bytes: frame(rest), fds: 3 }]);
    expectRefused(r, /invalid request: env/, marker);
  });

  it('the wrong secret, with 3 descriptors: not authorised, nothing runs', async () => {
    const { bytes, marker } = runFrame({ secret: rig.s.session.secret.replace(/.$/, (c) => (c === '0' ? '1' : '0')) });
    expectRefused(await script([{ bytes, fds: 3 }]), /not authorised/, marker);
  });

  it.each([0, 1, 2, 4, 5, 8])('a valid run with %i descriptors instead of 3: an error, nothing runs, all closed', async (n) => {
    const { bytes, marker } = runFrame();
    for (const probeAt of n ? [0, n - 1] : [0]) {
      const r = await script([{ bytes, fds: n, probeAt }]);
      expectRefused(r, new RegExp(`expected stdin, stdout and stderr \\(3 descriptors\\), got ${n}`), marker);
    }
  });

  it('a valid run with 9 descriptors (more than the supervisor reads at once): refused, nothing runs, all closed', async () => {
    const { bytes, marker } = runFrame();
    for (const probeAt of [0, 8]) {
      const r = await script([{ bytes, fds: 9, probeAt }]);
      expect(r.replies.filter((x) => x.type !== 'error')).toEqual([]);
      expectRefused(r, r.replies.length ? /descriptors/ : null, marker);
    }
  });

  it('descriptors on a signal frame (before any run): refused, all closed', async () => {
    const r = await script([{ bytes: frame({ v: 1, type: 'signal', signal: 15 }), fds: 1 }]);
    expectRefused(r, /carries no descriptors|signal before run/);
  });
});

// Every descriptor that arrives with a frame belongs to the supervisor until it closes it, once.
// Closing a number twice is not harmless: in between, the number can be reused (another
// connection's socket, a command's pipe, a file), and the second close then takes that away
// from its owner, at random. What a user would see is a session that breaks now and then (a
// lost connection, or libuv aborting the whole supervisor when a socket it polls vanishes);
// this checks the cause directly, on the supervisor's own calls, so it fails every time.
describe('descriptor bookkeeping on refusals', () => {
  /** Runs one single-frame exchange and returns every closeFd the supervisor made meanwhile. */
  async function closesDuring(step: Step): Promise<{ fd: number; open: boolean }[]> {
    const addon = loadAddon();
    const original = addon.closeFd;
    const calls: { fd: number; open: boolean }[] = [];
    addon.closeFd = (fd: number) => {
      let open = true;
      try {
        fs.fstatSync(fd);
      } catch {
        open = false;
      }
      calls.push({ fd, open });
      original.call(addon, fd);
    };
    try {
      await script([step]);
      await sleep(300); // closes that happen later (a relay winding down)
    } finally {
      addon.closeFd = original;
    }
    return calls;
  }

  it.each([
    ['the wrong secret', () => runFrame({ secret: 'x'.repeat(64) }).bytes, 3],
    ['2 descriptors instead of 3', () => runFrame().bytes, 2],
    ['5 descriptors instead of 3', () => runFrame().bytes, 5],
    ['a shell that cannot be started (cwd does not exist)', () => runFrame({ cwd: '/nonexistent-nono-dir' }).bytes, 3],
    ['a valid run', () => runFrame().bytes, 3],
  ] as const)('%s: each received descriptor is closed once, and only while it is open', async (_what, make, fds) => {
    const calls = await closesDuring({ bytes: make(), fds, probeAt: fds - 1 });
    const twice = calls.filter((c, i) => calls.findIndex((d) => d.fd === c.fd) !== i).map((c) => c.fd);
    const notOpen = calls.filter((c) => !c.open).map((c) => c.fd);
    expect({ closedTwice: twice, closedWhileNotOpen: notOpen }, JSON.stringify(calls)).toEqual({ closedTwice: [], closedWhileNotOpen: [] });
  });
});

// A command is running on the connection, then a bad frame arrives on it. The frame must be
// refused, and the supervisor closes the connection; nono-shell would print the error and exit 126
// ("not run"). The command must not stay behind: per docs/protocol.md ("Lifetime"), a connection
// that closes before its command exits gets the command's tree killed.
describe('a bad frame on a connection whose command is running', () => {
  const running = (pidFile: string) => `echo $$ > ${pidFile}; exec sleep 30`;

  async function afterRun(second: Step, pidFile: string) {
    const first = runFrame({}, () => running(pidFile));
    const r = await script([{ bytes: first.bytes, fds: 3, probe: false }, { ...second, sleep: 300 }]);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    return { r, pid };
  }

  it.each([
    ['a second run', () => runFrame(), /one command per connection/],
    ['descriptors on a signal frame', () => ({ bytes: frame({ v: 1, type: 'signal', signal: 15 }), marker: undefined }), /carries no descriptors/],
    ['garbage', () => ({ bytes: frame('{nope'), marker: undefined }), /not UTF-8 JSON/],
  ] as const)('%s: refused and not run', async (_what, make, msg) => {
    const pidFile = path.join(rig.home.project, `running-${++nextMarker}.pid`);
    const second = make();
    const { r, pid } = await afterRun({ bytes: second.bytes, fds: 3 }, pidFile);
    try {
      expectRefused(r, msg, second.marker);
    } finally {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone: the refusal ended the command too */
      }
      await waitFor(() => !isAlive(pid), 2000);
    }
  });

  it.each([
    ['a second run', () => runFrame().bytes],
    ['descriptors on a signal frame', () => frame({ v: 1, type: 'signal', signal: 15 })],
    ['garbage', () => frame('{nope')],
  ] as const)('%s: the command already running does not outlive its refused connection (gone within 1 s)', async (_what, make) => {
    const pidFile = path.join(rig.home.project, `running-${++nextMarker}.pid`);
    const { r, pid } = await afterRun({ bytes: make(), fds: 3 }, pidFile);
    try {
      expect(r.replies.map((x) => x.type)).toEqual(['error']);
      const gone = await waitFor(() => !isAlive(pid), 1000);
      expect(gone, `the command (pid ${pid}) still runs after its connection was refused and closed`).toBe(true);
    } finally {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      await waitFor(() => !isAlive(pid), 2000);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Random frames
// ---------------------------------------------------------------------------------------------
interface ConnResult {
  worker: number;
  conn: number;
  frames: number;
  bytes: number;
  state: 'complete' | 'incomplete' | 'oversized';
  first: string | null;
  firstFds: number;
  replies: Reply[];
  end: ScriptResult['end'];
  sendError: string | null;
  leaks: number;
}

const RUN_KEYS = ['argv', 'client_pid', 'cwd', 'env', 'ignored_signals', 'secret', 'shell_as', 'type', 'v'];

/**
 * The protocol's own rules (docs/protocol.md), written independently of the supervisor's zod
 * schema: a frame that passes here with 3 descriptors is one the supervisor may run. Returns the
 * argv when the payload is a valid `run` with the right secret.
 */
function validRun(payload: Buffer, secret: string): string[] | null {
  let o: unknown;
  try {
    o = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(payload));
  } catch {
    return null;
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return null;
  const r = o as Record<string, unknown>;
  if (Object.keys(r).sort().join() !== RUN_KEYS.join()) return null;
  const str = (x: unknown): x is string => typeof x === 'string' && !x.includes('\0');
  const strArray = (x: unknown, min: number): x is string[] => Array.isArray(x) && x.length >= min && x.length <= 100_000 && x.every(str);
  const ok =
    r.v === 1 &&
    r.type === 'run' &&
    r.secret === secret &&
    Number.isInteger(r.client_pid) &&
    (r.client_pid as number) > 0 &&
    str(r.cwd) &&
    r.cwd.length > 0 &&
    (r.shell_as === null || str(r.shell_as)) &&
    strArray(r.argv, 1) &&
    strArray(r.env, 0) &&
    r.env.every((e) => /^[^=]+=/s.test(e)) &&
    Array.isArray(r.ignored_signals) &&
    r.ignored_signals.length <= 64 &&
    r.ignored_signals.every((n) => Number.isInteger(n) && n >= 1 && n <= 64);
  return ok ? (r.argv as string[]) : null;
}

/** docs/protocol.md: a lone surrogate U+DC80..U+DCFF in a wire string stands for one raw byte. */
function wireBytes(s: string): Buffer {
  const out: Buffer[] = [];
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    out.push(ch.length === 1 && c >= 0xdc80 && c <= 0xdcff ? Buffer.from([c - 0xdc00]) : Buffer.from(ch, 'utf8'));
  }
  return Buffer.concat(out);
}

describe(`${FUZZ_FRAMES} random frames (seed ${SEED})`, () => {
  let conns: ConnResult[] = [];
  let recordsBefore = 0;
  const mayRun: { conn: ConnResult; argv: string[] }[] = [];

  beforeAll(async () => {
    // Commands of the cases above, killed there, are recorded when their exit is seen.
    await waitFor(() => rig.s.supervisor.activeCount === 0, 5000);
    recordsBefore = rig.s.records.length;
    const per = FUZZ_FRAMES / WORKERS;
    const outs = Array.from({ length: WORKERS }, (_, w) => path.join(rig.home.base, `fuzz-${w}.jsonl`));
    const runs = await Promise.all(
      outs.map((out, w) =>
        execa(PY, [CLIENT, 'fuzz', String(w), String(per), SEED, out], { env: clientEnv(), extendEnv: false, reject: false, timeout: 600_000 }),
      ),
    );
    for (const r of runs) if (r.exitCode !== 0) throw new Error(`fuzz client failed: ${r.stderr}`);
    conns = outs.flatMap((f) => fs.readFileSync(f, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ConnResult));
    for (const c of conns) {
      const argv = c.state === 'complete' && c.first !== null ? validRun(Buffer.from(c.first, 'base64'), rig.s.session.secret) : null;
      if (argv && c.firstFds === 3) mayRun.push({ conn: c, argv });
    }
    // Every command a valid frame started has ended (onCommandEnd) before we look at records.
    await waitFor(() => rig.s.supervisor.activeCount === 0, 10_000);
    const tally = (k: (c: ConnResult) => string) => Object.entries(conns.reduce<Record<string, number>>((a, c) => ({ ...a, [k(c)]: (a[k(c)] ?? 0) + 1 }), {}));
    console.log(
      `[nono fuzz] seed ${SEED}: ${conns.reduce((n, c) => n + c.frames, 0)} frames on ${conns.length} connections; ` +
        `${mayRun.length} valid first frames with 3 descriptors; first-frame states ${JSON.stringify(tally((c) => c.state))}; ` +
        `outcomes ${JSON.stringify(tally((c) => `${c.replies[0]?.type ?? 'none'}/${c.end}`))}`,
    );
  }, 900_000);

  it('sent them all', () => {
    expect(conns.reduce((n, c) => n + c.frames, 0)).toBe(FUZZ_FRAMES);
    expect(conns.length).toBeGreaterThan(FUZZ_FRAMES / 20);
    // Enough of each kind to mean something.
    expect(mayRun.length).toBeGreaterThan(50);
    expect(conns.filter((c) => c.state === 'complete' && !mayRun.some((m) => m.conn === c)).length).toBeGreaterThan(FUZZ_FRAMES / 10);
  });

  it('answered every one with an error or a closed connection (an exit or a signal_ack only for a valid run), and never hung', () => {
    const bad = conns.filter((c) => {
      if (c.end === 'timeout') return true;
      const valid = mayRun.some((m) => m.conn === c);
      // A valid run's command may get the signal frames that follow it acknowledged (signal_ack,
      // docs/protocol.md) before a later broken frame ends the connection with an error.
      return c.replies.some((x) => x.type !== 'error' && !(valid && (x.type === 'exit' || x.type === 'signal_ack')));
    });
    expect(bad.slice(0, 5), `${bad.length} connection(s) got something else`).toEqual([]);
  });

  it('ran nothing that was not a valid run frame (the supervisor recorded only those)', () => {
    const records = rig.s.records.slice(recordsBefore);
    const allowed = new Set(mayRun.map((m) => JSON.stringify(m.argv)));
    const foreign = records.filter((r) => !allowed.has(JSON.stringify(r.argv)));
    expect(foreign.map((r) => r.argv), 'commands started from frames that were not valid').toEqual([]);
    expect(records.length).toBeLessThanOrEqual(mayRun.length);
  });

  it('created no marker except from a valid run frame', () => {
    // Names compared as bytes: a valid frame may carry a raw byte as a lone surrogate (\udcff).
    const allowed = mayRun.map((m) => Buffer.concat(m.argv.map(wireBytes)));
    const files = fs.readdirSync(markers, { encoding: 'buffer' }).filter((f) => !f.toString('latin1').startsWith('case-'));
    const foreign = files.filter((f) => !allowed.some((a) => a.includes(Buffer.concat([Buffer.from(`${markers}/`), f]))));
    expect(foreign.map((f) => f.toString('latin1'))).toEqual([]);
    expect(files.length).toBeGreaterThan(0); // the marker command does run from a valid frame
  });

  it('refused valid-looking frames only for reasons the protocol gives', () => {
    // Single-frame connections whose frame is valid must not be refused as malformed: the
    // independent check above and the supervisor agree on what the protocol is.
    const disagreements = mayRun
      .filter((m) => m.conn.frames === 1)
      .filter((m) => m.conn.replies[0]?.type === 'error' && /invalid request|not UTF-8|not supported|not authorised|descriptors/.test(m.conn.replies[0].message ?? ''));
    expect(disagreements.map((m) => [m.conn.first, m.conn.replies[0]])).toEqual([]);
  });

  it('closed every descriptor it received (pipe probes reached EOF)', () => {
    const leaky = conns.filter((c) => c.leaks > 0);
    expect(leaky.slice(0, 5), `${leaky.length} connection(s) left descriptors open`).toEqual([]);
  });
});

describe('afterwards', () => {
  it('has as many descriptors open as before all of this', async () => {
    await waitFor(() => openFds() <= fdsBefore, 5000);
    const now = openFds();
    const detail =
      now === fdsBefore
        ? ''
        : fs
            .readdirSync(`/proc/${process.pid}/fd`)
            .map((fd) => {
              try {
                return `${fd}->${fs.readlinkSync(`/proc/${process.pid}/fd/${fd}`)}`;
              } catch {
                return fd;
              }
            })
            .join(' ');
    expect(now, detail).toBe(fdsBefore);
  });

  it('still runs real commands', async () => {
    const r = await execa(proxyBash, ['-c', 'echo alive'], { cwd: rig.home.project, env: rig.s.env, extendEnv: false, reject: false });
    expect(r.stdout).toBe('alive');
    expect(r.exitCode).toBe(0);
  });

  it('left no command running', async () => {
    expect(await waitFor(() => rig.s.supervisor.activeCount === 0, 5000)).toBe(true);
  });
});

