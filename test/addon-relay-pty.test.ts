// The stderr relay's pty (shim/addon/stderr_relay.c makePtyLike) must be close-on-exec from the
// moment it exists: a program started meanwhile by another thread of the supervisor must never
// inherit another command's pty master or slave. Here a worker thread starts programs that list
// their own descriptors while the main thread creates relay ptys as fast as it can.
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { expect, it } from 'vitest';
import { loadAddon } from '../src/native/addon.js';

const addon = loadAddon();

/** Started in a worker: runs `ls -l /proc/self/fd` until told to stop; returns every listing. */
const workerSource = `
const { parentPort } = require('node:worker_threads');
const { spawnSync } = require('node:child_process');
let stop = false;
parentPort.on('message', () => { stop = true; });
const listings = [];
(async function loop() {
  while (!stop) {
    const r = spawnSync('/bin/ls', ['-l', '/proc/self/fd'], { encoding: 'utf8' });
    listings.push(r.stdout);
    await new Promise((res) => setImmediate(res));
  }
  parentPort.postMessage(listings);
})();
`;

/** Descriptors in a listing that point at a pty master or a pty slave. */
function ptyEntries(listing: string): string[] {
  return listing.split('\n').filter((l) => /-> \/dev\/(ptmx|pts\/\d+)$/.test(l)).map((l) => l.replace(/^.*\s(\d+ -> )/, '$1'));
}

it('no program started during relay pty creation inherits a relay pty', async () => {
  const baseline = new Set(ptyEntries(fs.readdirSync('/proc/self/fd').map((fd) => {
    try {
      return `x ${fd} -> ${fs.readlinkSync(`/proc/self/fd/${fd}`)}`;
    } catch {
      return '';
    }
  }).join('\n')));
  const worker = new Worker(workerSource, { eval: true });
  const listings = new Promise<string[]>((resolve) => worker.once('message', resolve));
  const deadline = Date.now() + 1500;
  let made = 0;
  while (Date.now() < deadline) {
    const [master, slave] = addon.makePtyLike(-1);
    made++;
    addon.closeFd(slave);
    addon.closeFd(master);
    if (made % 50 === 0) await new Promise((r) => setImmediate(r));
  }
  worker.postMessage('stop');
  const all = await listings;
  await worker.terminate();
  const leaked = all.flatMap(ptyEntries).filter((e) => !baseline.has(e));
  expect(all.length, 'the worker started programs meanwhile').toBeGreaterThan(20);
  expect(made).toBeGreaterThan(100);
  expect(leaked, `programs that inherited a relay pty (out of ${all.length})`).toEqual([]);
});

it('gives a pty that copies the terminal settings and size, both ends close-on-exec', () => {
  const [m0, s0] = addon.makePtyLike(-1);
  const [master, slave] = addon.makePtyLike(s0);
  for (const fd of [master, slave]) {
    const flags = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
    // flags are octal; O_CLOEXEC is 02000000
    const value = parseInt(/flags:\s+([0-7]+)/.exec(flags)![1]!, 8);
    expect(value & 0o2000000, `fd ${fd} close-on-exec`).not.toBe(0);
  }
  expect(fs.readlinkSync(`/proc/self/fd/${master}`)).toBe('/dev/ptmx');
  expect(fs.readlinkSync(`/proc/self/fd/${slave}`)).toMatch(/^\/dev\/pts\/\d+$/);
  for (const fd of [master, slave, m0, s0]) addon.closeFd(fd);
});
