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

// Out of descriptors, accept() keeps failing while the connection stays pending; a level-triggered
// poll would then wake the loop again at once. The listener pauses and retries instead, and the
// handshake that waited is delivered once descriptors are free again.
it('does not spin while out of descriptors, and delivers the waiting handshake afterwards', async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nono-hs-'));
  const sock = path.join(dir, 'hs');
  const addonPath = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', 'native', 'nono_addon.node');
  // A separate listener process with a small descriptor limit, so this test's own process keeps its.
  const script = `
    const fs = require('node:fs');
    const addon = require(${JSON.stringify(addonPath)});
    addon.listenHandshakeStream(${JSON.stringify(sock)}, (pid, uid, p) => { console.log('GOT ' + p); process.exit(0); });
    const held = [];
    try { for (;;) held.push(fs.openSync('/dev/null', 'r')); } catch {}
    console.log('FULL');
    process.stdin.once('data', () => { for (const fd of held) fs.closeSync(fd); console.log('FREED'); });
    setInterval(() => {}, 1000);`;
  const listener = spawn('bash', ['-c', 'ulimit -n 64 && exec "$0" -e "$1"', process.execPath, script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise((r) => listener.on('exit', r));
  let out = '';
  listener.stdout!.on('data', (d) => (out += d));
  const waitFor = async (re: RegExp) => {
    for (let i = 0; i < 250 && !re.test(out); i++) await new Promise((r) => setTimeout(r, 20));
    expect(out).toMatch(re);
  };
  await waitFor(/FULL/);
  const sender = spawn(process.execPath, ['-e', `const s=require('net').connect(${JSON.stringify(sock)},()=>{s.end('v1\\t/waited')})`], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 200)); // the connection is pending, accept() fails
  const ticks = () => {
    const f = fs.readFileSync(`/proc/${listener.pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]);
  };
  const before = ticks();
  await new Promise((r) => setTimeout(r, 1000));
  const used = ticks() - before;
  // A spinning loop uses up to 100 ticks per second; paused, the listener wakes 10 times.
  expect(used, 'listener CPU ticks in 1 s while out of descriptors').toBeLessThan(10);
  listener.stdin!.write('go\n');
  await waitFor(/GOT v1\t\/waited/);
  await exited;
  sender.kill();
});
