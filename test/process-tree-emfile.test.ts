// Process trees when the supervisor is out of file descriptors (issue 12, item 8's sibling): the
// /proc snapshot cannot be taken then, and that must not throw out of the supervisor (it crashed
// nono from the preload check) nor keep a command alive: the kill still reaches its process group.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

it('kills a command tree and lists it without throwing while every descriptor is in use', () => {
  const script = `
    const { spawn } = require('node:child_process');
    const fs = require('node:fs');
    import(${JSON.stringify(path.join(root, 'dist', 'supervisor', 'process-tree.js'))}).then((pt) => {
      const child = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
      child.on('spawn', () => {
        const held = [];
        try { for (;;) held.push(fs.openSync('/dev/null', 'r')); } catch (e) { if (e.code !== 'EMFILE') throw e; }
        let readable = true;
        try { fs.readdirSync('/proc'); } catch { readable = false; }
        const tree = pt.commandTree(child.pid);
        pt.killCommandTree(child.pid);
        for (const fd of held) fs.closeSync(fd);
        child.on('exit', (code, sig) => { console.log(JSON.stringify({ readable, tree, pid: child.pid, sig })); });
      });
    });`;
  const out = execFileSync('bash', ['-c', 'ulimit -n 64 && exec "$0" -e "$1"', process.execPath, script], { encoding: 'utf8', timeout: 20_000 });
  const r = JSON.parse(out.trim().split('\n').pop()!);
  expect(r.readable).toBe(false); // the situation under test: /proc cannot be listed
  expect(r.tree).toEqual([r.pid]);
  expect(r.sig).toBe('SIGKILL');
});
