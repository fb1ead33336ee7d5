// The addon's handshake socket (shim/addon/handshake_listener.c) receives what the interposer
// sends, whole: the longest executable path a process can have arrives exactly, and a datagram
// too long to be a handshake is dropped, never delivered cut short.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadAddon } from '../src/native/addon.js';
import { root } from './helpers/paths.js';

const addon = loadAddon();
let dir: string;
let sock: string;
const got: Array<{ pid: number; payload: Buffer }> = [];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nono-hs-'));
  sock = path.join(dir, 'hs');
  addon.listenHandshake(sock, (pid, _uid, payload) => got.push({ pid, payload }));
});
afterAll(() => {
  addon.closeHandshake();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function waitFor(pred: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !pred(); i++) await new Promise((r) => setTimeout(r, 10));
}

it('delivers the handshake of a program whose path is 4095 bytes long, exactly', async () => {
  // Nested directories up to a 4095-byte path (PATH_MAX - 1: the longest exec accepts).
  let p = dir;
  const target = 4095 - '/true'.length;
  while (p.length < target) {
    const room = target - p.length - 1;
    p = path.join(p, 'd'.repeat(Math.min(200, room)));
  }
  fs.mkdirSync(p, { recursive: true });
  const exe = path.join(p, 'true');
  expect(exe.length).toBe(4095);
  fs.copyFileSync('/bin/true', exe);
  fs.chmodSync(exe, 0o755);
  execFileSync(exe, [], {
    env: { LD_PRELOAD: path.join(root, 'native', 'libnono-interpose.so'), NONO_HANDSHAKE: sock, NONO_SHELL_CLIENT: path.join(root, 'native', 'nono-shell') },
  });
  await waitFor(() => got.some((g) => g.payload.length > 3000));
  const h = got.find((g) => g.payload.length > 3000);
  expect(h?.payload.length).toBe(3 + 4095);
  expect(h?.payload.toString()).toBe(`v1\t${exe}`);
});

it('drops a datagram longer than any handshake instead of cutting it short', async () => {
  got.length = 0;
  // A process sending by hand: first an oversized datagram, then a well-formed one.
  execFileSync('/usr/bin/python3', [
    '-c',
    `import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"v1\\t/" + b"x" * 9000, sys.argv[1])
s.sendto(b"v1\\t/after", sys.argv[1])`,
    sock,
  ]);
  await waitFor(() => got.length > 0);
  await new Promise((r) => setTimeout(r, 50));
  expect(got.map((g) => g.payload.toString())).toEqual(['v1\t/after']);
});
