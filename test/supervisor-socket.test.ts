// The supervisor's socket against clients that are not nono-shell: broken frames get an error
// reply or a closed connection, and the supervisor keeps serving real commands afterwards.
import net from 'node:net';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { proxyBash } from './helpers/paths.js';
import { makeSandboxHome, type SandboxHome } from './helpers/sandbox-home.js';
import { startTestSession, type TestSession } from './helpers/session.js';

let home: SandboxHome;
let s: TestSession;

beforeAll(() => {
  home = makeSandboxHome();
  s = startTestSession({ workdir: home.project, home: home.home });
});
afterAll(() => {
  s?.close();
  home?.cleanup();
});

function frame(payload: Buffer | string): Buffer {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const hdr = Buffer.alloc(4);
  hdr.writeUInt32LE(body.length);
  return Buffer.concat([hdr, body]);
}

/** Sends raw bytes; resolves with the first reply frame's JSON, or null if the socket closed. */
function exchange(bytes: Buffer): Promise<{ type: string; message?: string } | null> {
  return new Promise((resolve) => {
    const c = net.createConnection(s.session.socketPath);
    let buf = Buffer.alloc(0);
    c.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 4 && buf.length >= 4 + buf.readUInt32LE(0)) {
        resolve(JSON.parse(buf.subarray(4, 4 + buf.readUInt32LE(0)).toString()));
        c.destroy();
      }
    });
    c.on('close', () => resolve(null));
    c.on('error', () => resolve(null));
    c.write(bytes);
  });
}

const validRun = {
  v: 1,
  type: 'run',
  secret: '',
  client_pid: 1,
  cwd: '/',
  shell_as: null,
  argv: ['bash', '-c', 'true'],
  env: [],
  ignored_signals: [],
};

describe('supervisor socket', () => {
  it.each([
    ['not JSON', frame('{nope'), /not UTF-8 JSON/],
    ['not UTF-8', frame(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), /not UTF-8 JSON/],
    ['a newer protocol version', frame(JSON.stringify({ ...validRun, v: 2 })), /version 2 is not supported/],
    ['an unknown field', frame(JSON.stringify({ ...validRun, extra: 1 })), /invalid request/],
    ['argv of the wrong type', frame(JSON.stringify({ ...validRun, argv: 'bash -c true' })), /argv/],
    ['a signal before any command', frame(JSON.stringify({ v: 1, type: 'signal', signal: 2 })), /signal before run/],
  ])('answers %s with an error naming the problem', async (_what, bytes, pattern) => {
    const reply = await exchange(bytes);
    expect(reply?.type).toBe('error');
    expect(reply?.message).toMatch(pattern);
  });

  it('refuses a well-formed run without the session secret, or without descriptors', async () => {
    const noSecret = await exchange(frame(JSON.stringify(validRun)));
    expect(noSecret).toEqual(expect.objectContaining({ type: 'error', message: expect.stringMatching(/not authorised/) }));
    const noFds = await exchange(frame(JSON.stringify({ ...validRun, secret: s.session.secret })));
    expect(noFds).toEqual(expect.objectContaining({ type: 'error', message: expect.stringMatching(/3 descriptors/) }));
  });

  it('closes the connection on a frame over 1 MiB', async () => {
    const hdr = Buffer.alloc(4);
    hdr.writeUInt32LE(2 << 20);
    expect(await exchange(Buffer.concat([hdr, Buffer.alloc(1024)]))).toBeNull();
  });

  it('keeps serving real commands after all of that', async () => {
    const r = await execa(proxyBash, ['-c', 'echo still-serving'], { cwd: home.project, env: s.env, extendEnv: false });
    expect(r.stdout).toBe('still-serving');
  });
});
