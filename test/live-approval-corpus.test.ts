/**
 * Live approval measured on a held-out corpus (written apart from the implementation and its own
 * tests): real programs hit file operations the default profile denies, through the real session
 * (nono-shell, the supervisor, Landlock, the seccomp listener). Each denial must reach the person
 * WHILE the command waits, exactly (source 'seccomp': the operation and canonical path known at
 * the system call), not guessed from stderr after the exit. The person answers "deny" every time,
 * so nothing here is ever performed. What counts is the decision at the system call, as the audit
 * log records it ('denial' records of source 'seccomp'): after a "deny", nono may refuse a like
 * operation without asking again (a refusal is remembered for the session), which is still an
 * exact, live decision. Recall over the file denials must be 1.0; failures that are not the
 * sandbox's (a missing file, an existing directory) must not cause any.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAddon } from '../src/native/addon.js';
import { nativePaths } from '../src/native/paths.js';
import type { Denial, DenialOp } from '../src/supervisor/denials/types.js';
import type { Choice, Prompter } from '../src/supervisor/prompt/types.js';
import { makeSandboxHome, type SandboxHome } from './helpers/sandbox-home.js';
import { startTestSession, type TestSession } from './helpers/session.js';

const supported = loadAddon().liveApprovalSupported() === null;
const PY = '/usr/bin/python3';

interface Case {
  name: string;
  script: string;
  /** The denials the sandbox causes; [] for a failure that is not the sandbox's. */
  expect: Array<{ op: DenialOp; path: string | RegExp }>;
}

let h: SandboxHome;
let s: TestSession;
let audit: string;

const H = (rel: string) => path.join(h.home, rel);

beforeAll(() => {
  h = makeSandboxHome();
  // A read-only corner of HOME: readable, not writable, under the default profile.
  fs.mkdirSync(H('notes/empty'), { recursive: true });
  for (const f of ['a.txt', 'b.txt', 'c.txt', 'd.txt', 'e.txt', 'f.txt', 'g.txt']) fs.writeFileSync(H(`notes/${f}`), 'hello\n');
  fs.mkdirSync(H('.gnupg'), { recursive: true });
  fs.writeFileSync(H('.gnupg/pubring.kbx'), 'planted');
  // One file per case: a refusal is remembered for the session, so a second case on the same
  // file would be refused without a question and prove nothing.
  fs.writeFileSync(H('.ssh/id_ed25519'), 'planted');
  fs.writeFileSync(H('.aws/config'), 'planted');
  const prompter: Prompter = { ask: async () => 'deny' as Choice };
  audit = path.join(h.base, 'audit.jsonl');
  if (supported) s = startTestSession({ workdir: h.project, home: h.home, onDenial: 'prompt', prompter, liveApproval: true, auditFile: audit });
});

afterAll(() => {
  s?.close();
  h?.cleanup();
});

function cases(): Case[] {
  return [
    // reads (the open family, every way a program gets there)
    { name: 'cat a key, then go on (exit 0)', script: 'cat ~/.ssh/id_rsa; echo done', expect: [{ op: 'read', path: h.sshKey }] },
    { name: 'input redirection', script: 'wc -c < ~/.netrc', expect: [{ op: 'read', path: H('.netrc') }] },
    { name: 'python open()', script: `${PY} -c 'import os; open(os.path.expanduser("~/.aws/credentials")).read()'`, expect: [{ op: 'read', path: H('.aws/credentials') }] },
    { name: 'node readFileSync', script: `node -e 'require("fs").readFileSync(process.env.HOME + "/.config/gcloud/token")'`, expect: [{ op: 'read', path: H('.config/gcloud/token') }] },
    { name: 'diff against a key', script: 'diff ~/.ssh/id_ed25519 /dev/null', expect: [{ op: 'read', path: H('.ssh/id_ed25519') }] },
    { name: 'ls a denied directory', script: 'ls ~/.gnupg', expect: [{ op: 'list', path: H('.gnupg') }] },
    { name: 'relative path after a cd', script: 'cd ~/.aws 2>/dev/null && cat config', expect: [{ op: 'read', path: H('.aws/config') }] },
    // writes to existing files
    { name: 'append by redirection', script: 'printf x >> ~/notes/a.txt', expect: [{ op: 'write', path: H('notes/a.txt') }] },
    { name: 'python r+', script: `${PY} -c 'import os; open(os.path.expanduser("~/notes/b.txt"), "r+")'`, expect: [{ op: 'write', path: H('notes/b.txt') }] },
    { name: 'dd conv=notrunc', script: 'echo y | dd of=$HOME/notes/c.txt conv=notrunc status=none', expect: [{ op: 'write', path: H('notes/c.txt') }] },
    { name: 'python os.truncate (the truncate system call)', script: `${PY} -c 'import os; os.truncate(os.path.expanduser("~/notes/d.txt"), 0)'`, expect: [{ op: 'write', path: H('notes/d.txt') }] },
    // creation
    { name: 'mkdir in HOME (UTF-8 quotes in the message)', script: 'mkdir ~/newdir', expect: [{ op: 'create', path: H('newdir') }] },
    { name: 'python makedirs', script: `${PY} -c 'import os; os.makedirs(os.path.expanduser("~/deep/er"))'`, expect: [{ op: 'create', path: H('deep') }] },
    { name: 'node writeFileSync of a new file', script: `node -e 'require("fs").writeFileSync(process.env.HOME + "/new.json", "{}")'`, expect: [{ op: 'create', path: H('new.json') }] },
    { name: 'cp to a new file', script: 'cp ~/notes/e.txt ~/notes/copy.txt', expect: [{ op: 'create', path: H('notes/copy.txt') }] },
    { name: 'hard link', script: 'ln ~/notes/e.txt ~/notes/hard', expect: [{ op: 'create', path: H('notes/hard') }] },
    { name: 'symbolic link', script: 'ln -s e.txt ~/notes/sym', expect: [{ op: 'create', path: H('notes/sym') }] },
    { name: 'mkfifo', script: 'mkfifo ~/notes/fifo', expect: [{ op: 'create', path: H('notes/fifo') }] },
    // removal and rename
    { name: 'rm a file', script: 'rm -f ~/notes/f.txt', expect: [{ op: 'delete', path: H('notes/f.txt') }] },
    { name: 'rmdir', script: 'rmdir ~/notes/empty', expect: [{ op: 'delete', path: H('notes/empty') }] },
    { name: 'python os.unlink', script: `${PY} -c 'import os; os.unlink(os.path.expanduser("~/notes/g.txt"))'`, expect: [{ op: 'delete', path: H('notes/g.txt') }] },
    { name: 'mv within a read-only directory', script: 'mv ~/notes/e.txt ~/notes/renamed.txt', expect: [{ op: 'rename', path: H('notes/e.txt') }] },
    { name: 'node renameSync', script: `node -e 'const h = process.env.HOME; require("fs").renameSync(h + "/notes/a.txt", h + "/notes/z.txt")'`, expect: [{ op: 'rename', path: H('notes/a.txt') }] },
    // look-alikes: failures that are not the sandbox's, and allowed work
    { name: 'a missing file inside a denied directory', script: 'cat ~/.ssh/no-such-key', expect: [] },
    { name: 'mkdir of an existing directory', script: 'mkdir ~/notes', expect: [] },
    { name: 'rm of a missing file', script: 'rm ~/notes/no-such-file', expect: [] },
    { name: 'work inside the project', script: 'echo x > out.txt && cat out.txt && mkdir -p d/e && mv out.txt d/ && rm -r d', expect: [] },
    { name: 'reading system files', script: 'cat /etc/hostname >/dev/null; ls /usr >/dev/null', expect: [] },
  ];
}

function runCommand(script: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(nativePaths.client, ['-c', script], { cwd: h.project, env: s.env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code, stderr }));
  });
}

/** The denials the audit log recorded since line `from`. */
function auditedDenials(from: number): { lines: number; denials: Denial[] } {
  const lines = fs.existsSync(audit) ? fs.readFileSync(audit, 'utf8').split('\n').filter(Boolean) : [];
  const denials = lines.slice(from).map((l) => JSON.parse(l)).filter((r) => r.type === 'denial') as Denial[];
  return { lines: lines.length, denials };
}

const matches = (d: Denial, e: Case['expect'][number]) => d.op === e.op && (typeof e.path === 'string' ? d.path === e.path : e.path.test(d.path ?? ''));

describe.skipIf(!supported)('live approval on a held-out corpus', () => {
  it('decides every file denial at the system call, asking while the command waits (recall 1.0), and never a failure that is not the sandbox\'s', async () => {
    let tp = 0;
    const missed: string[] = [];
    const spurious: string[] = [];
    let line = auditedDenials(0).lines;
    for (const c of cases()) {
      const r = await runCommand(c.script);
      const { lines, denials } = auditedDenials(line);
      line = lines;
      const live = denials.filter((d) => d.source === 'seccomp');
      for (const e of c.expect) {
        if (live.some((d) => matches(d, e))) tp++;
        else missed.push(`${c.name}: ${e.op} ${e.path} (recorded: ${JSON.stringify(denials.map((d) => `${d.source} ${d.op} ${d.path}`))}; exit ${r.code}; ${r.stderr.trim().split('\n').at(-1)})`);
      }
      for (const d of live) if (!c.expect.some((e) => matches(d, e))) spurious.push(`${c.name}: ${d.op} ${d.path}`);
      if (!c.expect.length && denials.length) spurious.push(`${c.name}: ${JSON.stringify(denials.map((d) => `${d.source} ${d.op} ${d.path}`))}`);
    }
    const total = cases().reduce((n, c) => n + c.expect.length, 0);
    console.log(`live approval corpus: recall ${(tp / total).toFixed(3)} (${tp}/${total}); spurious ${spurious.length}`);
    expect(missed).toEqual([]);
    expect(spurious).toEqual([]);
  }, 180_000);
});
