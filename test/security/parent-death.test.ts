// The exec helper that sandboxes the agent arms a parent-death signal so the agent never outlives
// nono. A parent that died *before* the signal was armed is caught by comparing the parent pid
// with the one the helper started with; under a subreaper (PR_SET_CHILD_SUBREAPER: systemd --user,
// tmux, containers) the orphan is reparented to the subreaper, not to pid 1, so "ppid == 1" is
// not the test. Here strace holds the helper's first prctl while its parent (strace) is killed.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { execHelper } from '../helpers/paths.js';

const subreaper = `
import ctypes, os, signal, subprocess, sys, time
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
helper, marker = sys.argv[1], sys.argv[2]
p = subprocess.Popen(['strace', '-o', '/dev/null', '-e', 'trace=prctl',
                      '-e', 'inject=prctl:delay_enter=1500000:when=1',
                      helper, '--handled-fs', '13', '--path', '13:/usr', '--path', '13:/etc',
                      '--', '/bin/sh', '-c', 'echo ran > ' + marker],
                     stderr=subprocess.DEVNULL)
time.sleep(0.5)
os.kill(p.pid, signal.SIGKILL)   # the helper's parent dies before the helper armed its signal
p.wait()
pid, status = os.wait()          # the orphaned helper, now ours
print(os.waitstatus_to_exitcode(status))
`;

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nono-pdeath-'));
  try {
    execFileSync('strace', ['-V']);
  } catch {
    throw new Error('this test needs strace (apt-get install strace) to hold the helper mid-start');
  }
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

it('the exec helper does not start the agent when nono died before it armed the parent-death signal (under a subreaper)', () => {
  const marker = path.join(dir, 'ran');
  const out = execFileSync('/usr/bin/python3', ['-c', subreaper, execHelper, marker], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  expect(fs.existsSync(marker), 'the agent ran although nono was gone').toBe(false);
  expect(out.trim()).toBe('126');
});
