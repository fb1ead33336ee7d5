// The sandboxed spawn's errors say which step failed, whole: a long program path must not push
// the step and the reason off the end of the message (it was cut at 512 bytes).
import { expect, it } from 'vitest';
import { loadAddon } from '../src/native/addon.js';

const addon = loadAddon();

it('names the failed step and the reason even for a 3000-byte program path', () => {
  const file = `/nonexistent/${'x'.repeat(200)}/`.repeat(14) + 'bash';
  expect(file.length).toBeGreaterThanOrEqual(3000);
  const rs = addon.createRuleset({ handledFs: 1 << 2 });
  try {
    expect(() =>
      addon.spawn({ file, argv: ['bash'], env: [], cwd: '/', stdio: [0, 1, 2], rulesetFd: rs }, () => {}),
    ).toThrow(`cannot start ${file} in the sandbox (executing the shell): No such file or directory`);
  } finally {
    addon.closeFd(rs);
  }
});
