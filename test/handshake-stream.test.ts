// The macOS handshake listener (shim/addon/handshake_stream.c), built on Linux too: a process
// connects, writes "v1\t<exe>", closes; the listener reports the pid the kernel gives for the
// peer (SO_PEERCRED here, LOCAL_PEERPID on macOS), never one taken from the payload.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { loadAddon } from '../src/native/addon.js';

const addon = loadAddon();
let dir: string | undefined;
afterEach(() => {
  addon.closeHandshakeStream();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

it('reports each connecting process by its kernel pid, with its payload', async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nono-hs-'));
  const sock = path.join(dir, 'hs');
  const got: Array<{ pid: number; uid: number; text: string }> = [];
  addon.listenHandshakeStream(sock, (pid, uid, payload) => got.push({ pid, uid, text: payload.toString() }));
  expect(fs.statSync(sock).mode & 0o777).toBe(0o600);
  // A separate process that claims another pid in its payload: the pid reported is its own.
  const script = `const s=require('net').connect(${JSON.stringify(sock)},()=>{s.end('v1\\t/claimed/exe 1')})`;
  const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
  const childPid = child.pid!;
  await new Promise((r) => child.on('exit', r));
  for (let i = 0; i < 100 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  expect(got).toEqual([{ pid: childPid, uid: process.getuid!(), text: 'v1\t/claimed/exe 1' }]);
});
