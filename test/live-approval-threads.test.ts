// Live approval with several threads of one command (a thread pool, `make -j`, a test runner):
// the same denied operation made by two threads at once is one question, and both threads get
// its answer; different files are asked one after the other. Real session, real Python threads.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadAddon } from '../src/native/addon.js';
import { nativePaths } from '../src/native/paths.js';
import type { Choice, PromptRequest } from '../src/supervisor/prompt/types.js';
import { makeSandboxHome, type SandboxHome } from './helpers/sandbox-home.js';
import { startTestSession, type TestSession } from './helpers/session.js';

const supported = loadAddon().liveApprovalSupported() === null;

let h: SandboxHome;
let s: TestSession;
let asked: PromptRequest[];
let choice: Choice;

beforeEach(() => {
  h = makeSandboxHome();
  asked = [];
  // The person takes a moment: every thread has reached its open() before the answer.
  const prompter = { ask: async (q: PromptRequest) => (asked.push(q), await new Promise((r) => setTimeout(r, 400)), choice) };
  if (supported) s = startTestSession({ workdir: h.project, home: h.home, onDenial: 'prompt', prompter });
});
afterEach(() => {
  s?.close();
  h.cleanup();
});

/** Runs a Python script whose threads each open one of FILES at once; what each thread got. */
function threads(files: string[]): Promise<Record<string, string[]>> {
  const script = path.join(h.project, 'threads.py');
  fs.writeFileSync(
    script,
    [
      'import json, sys, threading',
      'got, start = {}, threading.Barrier(len(sys.argv) - 1)',
      'def read(p):',
      '    start.wait()',
      '    try:',
      '        with open(p) as f: r = f.read()[:10]',
      '    except OSError as e:',
      '        r = f"errno {e.errno}"',
      '    got.setdefault(p, []).append(r)',
      'ts = [threading.Thread(target=read, args=(p,)) for p in sys.argv[1:]]',
      '[t.start() for t in ts]',
      '[t.join() for t in ts]',
      'print(json.dumps(got))',
    ].join('\n'),
  );
  return new Promise((resolve, reject) => {
    const p = spawn(nativePaths.client, ['-c', `/usr/bin/python3 ${script} ${files.join(' ')}`], { cwd: h.project, env: s.env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('close', () => {
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`no result: ${out}`));
      }
    });
  });
}

describe.skipIf(!supported)('live approval with threads', () => {
  it('the same denied file opened by three threads at once: one question, and all three get the file on "once"', async () => {
    choice = 'once';
    const got = await threads([h.sshKey, h.sshKey, h.sshKey]);
    expect(got[h.sshKey]).toEqual(['-----BEGIN', '-----BEGIN', '-----BEGIN']);
    expect(asked).toHaveLength(1);
  });

  it('... and all three get EACCES on "deny", still one question', async () => {
    choice = 'deny';
    const got = await threads([h.sshKey, h.sshKey, h.sshKey]);
    expect(got[h.sshKey]).toEqual(['errno 13', 'errno 13', 'errno 13']);
    expect(asked).toHaveLength(1);
  });

  it('different denied files from parallel threads are asked one after the other, each answered', async () => {
    choice = 'once';
    const netrc = path.join(h.home, '.netrc');
    const got = await threads([h.sshKey, netrc]);
    expect(got[h.sshKey]).toEqual(['-----BEGIN']);
    expect(got[netrc]).toEqual(['machine ex']);
    expect(asked.map((q) => q.denials[0]!.path).sort()).toEqual([netrc, h.sshKey].sort());
  });
});
