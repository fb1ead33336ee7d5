// `nono profile list | head`: a reader that goes away must end nono quietly with the status a
// program killed by SIGPIPE has (141), not an unhandled EPIPE stack trace.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli', 'main.js');

it('ends with 141 and no stack trace when its stdout reader is gone', async () => {
  const child = spawn(process.execPath, [cli, 'profile', 'list'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy(); // the read end closes before nono (a Node start away) writes anything
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise((r) => child.on('close', r));
  expect(err).not.toMatch(/EPIPE|Unhandled/);
  expect(code).toBe(141);
});
