/**
 * Routing by the LD_PRELOAD interposer (shim/interpose.c), seen from the outside: real programs
 * (node, python3, dash) run with the interposer loaded and start shells the way agents do; a fake
 * client records what it was started with. A routed start shows up as a log record carrying
 * NONO_SHELL_AS and the caller's argv; a start that is not routed runs the real program.
 */
import { execa } from 'execa';
import {
  accessSync,
  chmodSync,
  constants as fsConstants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const interposeSource = join(repoRoot, 'shim', 'interpose.c');
// NONO_TEST_INTERPOSE_LIB: run these tests against another build (e.g. a deliberately broken one).
const interposeLib = process.env.NONO_TEST_INTERPOSE_LIB ?? join(repoRoot, 'native', 'libnono-interpose.so');

/*
 * The fake client is a tiny C program rather than a #!/bin/sh script: for a script the kernel
 * replaces argv[0] with the script path, so the caller's argv[0] (e.g. "-bash") could not be
 * checked. It only writes to the log, so nothing it does is itself subject to routing.
 * Record format: fields "argv=<arg>" and "as=<value of a NONO_SHELL_AS entry>", each ended by
 * \x1f; a record is ended by \x1e.
 */
const FAKE_CLIENT_C = String.raw`
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
extern char **environ;
static char rec[65536];
static size_t used;
static void field(const char *tag, const char *value) {
  size_t t = strlen(tag), v = strlen(value);
  if (used + t + v + 2 > sizeof rec) _exit(98);
  memcpy(rec + used, tag, t); used += t;
  memcpy(rec + used, value, v); used += v;
  rec[used++] = '\x1f';
}
int main(int argc, char **argv) {
  const char *log = getenv("NONO_TEST_LOG");
  int fd = log ? open(log, O_WRONLY | O_APPEND | O_CREAT, 0644) : -1;
  if (fd < 0) return 97;
  for (int i = 0; i < argc; i++) field("argv=", argv[i]);
  for (char **e = environ; *e; e++)
    if (strncmp(*e, "NONO_SHELL_AS=", 14) == 0) field("as=", *e + 14);
  rec[used++] = '\x1e';
  if (write(fd, rec, used) != (ssize_t)used) return 96;
  if (write(1, "fake-client ran\n", 16) != 16) return 95;
  return 0;
}
`;

/* No common program calls execvpe, so a two-line caller does: call-execvpe FILE ARGV0 ARGS... */
const CALL_EXECVPE_C = String.raw`
#include <stdio.h>
#include <unistd.h>
extern char **environ;
int main(int argc, char **argv) {
  if (argc < 3) return 2;
  execvpe(argv[1], &argv[2], environ);
  perror("execvpe");
  return 127;
}
`;

/* Spawns like an agent: node's child_process (libuv: fork + execvp). */
const NODE_SPAWN = `
const { spawn } = require('node:child_process');
const [file, args, opts] = JSON.parse(process.argv[1]);
const child = spawn(file, args, opts ?? {});
let stdout = '';
child.stdout.on('data', (d) => { stdout += d; });
let failed = false;
child.on('error', (e) => { failed = true; console.log(JSON.stringify({ error: e.code })); });
child.on('close', (code) => { if (!failed) console.log(JSON.stringify({ code, stdout })); });
`;

/* node exec(): /bin/sh -c CMD. */
const NODE_EXEC = `
const { exec } = require('node:child_process');
exec(process.argv[1], (err, stdout) => console.log(JSON.stringify({ code: err ? err.code : 0, stdout })));
`;

interface ClientRun {
  argv: string[];
  shellAs: string[];
}
interface ChildResult {
  code?: number;
  stdout?: string;
  error?: string;
}

let dir: string;
let fakeClient: string;
let callExecvpe: string;
let binDir: string; // notbash, bashish
let proxyDir: string; // bash -> fake-client
let emptyDir: string;
let noExecDir: string; // a non-executable file called bash
let python: string;
let logCounter = 0;

const BASE_PATH = '/usr/bin:/bin';

/** First executable `name` on `path`, as execvp would find it (independent of the C code). */
function firstOnPath(name: string, path: string): string {
  for (const d of path.split(':')) {
    const candidate = join(d, name);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      /* next */
    }
  }
  throw new Error(`${name} not found on ${path}`);
}

function freshLog(): string {
  return join(dir, `client-${++logCounter}.log`);
}

function readRuns(log: string): ClientRun[] {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\x1e')
    .filter((r) => r !== '')
    .map((record) => {
      const run: ClientRun = { argv: [], shellAs: [] };
      for (const f of record.split('\x1f')) {
        if (f.startsWith('argv=')) run.argv.push(f.slice(5));
        else if (f.startsWith('as=')) run.shellAs.push(f.slice(3));
      }
      return run;
    });
}

/** Environment for a scenario: only what is listed here (no inherited NONO_* or PATH). */
function scenarioEnv(log: string, extra: Record<string, string | undefined> = {}) {
  const env: Record<string, string> = {
    PATH: BASE_PATH,
    HOME: dir,
    LD_PRELOAD: interposeLib,
    NONO_SHELL_CLIENT: fakeClient,
    NONO_TEST_LOG: log,
  };
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

async function runProgram(file: string, args: string[], env: Record<string, string>) {
  const r = await execa(file, args, { env, extendEnv: false, reject: false, cwd: dir });
  if (r.exitCode !== 0) {
    throw new Error(`${file} exited ${r.exitCode}: ${r.stderr}`);
  }
  return r.stdout;
}

async function nodeSpawn(
  log: string,
  file: string,
  args: string[],
  opts: object = {},
  extraEnv: Record<string, string | undefined> = {},
): Promise<ChildResult> {
  const out = await runProgram(
    process.execPath,
    ['-e', NODE_SPAWN, JSON.stringify([file, args, opts])],
    scenarioEnv(log, extraEnv),
  );
  return JSON.parse(out) as ChildResult;
}

async function pythonJson(
  log: string,
  script: string,
  arg: unknown = null,
  extraEnv: Record<string, string | undefined> = {},
): Promise<Record<string, unknown>> {
  const out = await runProgram(python, ['-c', script, JSON.stringify(arg)], scenarioEnv(log, extraEnv));
  return JSON.parse(out) as Record<string, unknown>;
}

const PY_SUBPROCESS = `
import json, subprocess, sys
args, shell, env = json.loads(sys.argv[1])
r = subprocess.run(args, shell=shell, env=env, capture_output=True, text=True)
print(json.dumps({"code": r.returncode, "stdout": r.stdout}))
`;

/* Calls os.execv directly and reports the error the caller sees. */
const PY_EXECV = `
import json, os, sys
path = json.loads(sys.argv[1])
try:
    os.execv(path, [os.path.basename(path)])
except OSError as e:
    print(json.dumps({"type": type(e).__name__, "errno": e.errno}))
`;

/* posix_spawn / posix_spawnp with a file action that sends the child's stdout to a file. */
const PY_POSIX_SPAWN = `
import json, os, sys
fn, path, args, out = json.loads(sys.argv[1])
spawn = os.posix_spawnp if fn == "posix_spawnp" else os.posix_spawn
actions = [(os.POSIX_SPAWN_OPEN, 1, out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)]
try:
    pid = spawn(path, args, os.environ, file_actions=actions)
except OSError as e:
    print(json.dumps({"type": type(e).__name__, "errno": e.errno}))
else:
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"code": os.waitstatus_to_exitcode(status)}))
`;

function writeScript(path: string, body: string, mode = 0o755) {
  writeFileSync(path, body);
  chmodSync(path, mode);
}

beforeAll(async () => {
  // Build the interposer when it is missing or older than its source, so the test runs standalone
  // and never exercises a stale library.
  if (process.env.NONO_TEST_INTERPOSE_LIB) {
    // Given explicitly: used as is.
  } else if (!existsSync(interposeLib) || statSync(interposeLib).mtimeMs < statSync(interposeSource).mtimeMs) {
    mkdirSync(join(repoRoot, 'native'), { recursive: true });
    await execa(
      'gcc',
      ['-shared', '-fPIC', '-O2', '-Wall', '-Wextra', '-D_GNU_SOURCE', '-o', interposeLib, interposeSource, '-ldl'],
      { cwd: repoRoot },
    );
  }

  dir = mkdtempSync(join(tmpdir(), 'nono-interpose-'));
  fakeClient = join(dir, 'fake-client');
  writeFileSync(join(dir, 'fake-client.c'), FAKE_CLIENT_C);
  await execa('gcc', ['-O2', '-o', fakeClient, join(dir, 'fake-client.c')]);
  callExecvpe = join(dir, 'call-execvpe');
  writeFileSync(join(dir, 'call-execvpe.c'), CALL_EXECVPE_C);
  await execa('gcc', ['-O2', '-D_GNU_SOURCE', '-o', callExecvpe, join(dir, 'call-execvpe.c')]);

  binDir = join(dir, 'bin');
  mkdirSync(binDir);
  writeScript(join(binDir, 'notbash'), '#!/bin/sh\necho "notbash ran $*"\n');
  writeScript(join(binDir, 'bashish'), '#!/bin/sh\necho "bashish ran $*"\n');

  proxyDir = join(dir, 'proxy-bin');
  mkdirSync(proxyDir);
  symlinkSync(fakeClient, join(proxyDir, 'bash'));

  emptyDir = join(dir, 'empty');
  mkdirSync(emptyDir);
  noExecDir = join(dir, 'noexec');
  mkdirSync(noExecDir);
  writeScript(join(noExecDir, 'bash'), '#!/bin/sh\necho should not run\n', 0o644);
  writeScript(join(dir, 'plain.txt'), 'not a program\n', 0o644);

  // The real interpreter, not a wrapper: pyenv's python3 is a bash script, and under the
  // interposer its own `env bash` would be routed before Python ever started.
  const exe = await execa('python3', ['-c', 'import sys; print(sys.executable)']);
  python = exe.stdout.trim();
  if (!readFileSync(python).subarray(0, 4).equals(Buffer.from('\x7fELF', 'latin1'))) {
    throw new Error(`${python} is not an ELF binary`);
  }
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('shell starts are routed to the client', () => {
  it('node spawn("bash") -> client, argv unchanged, NONO_SHELL_AS = bash found on PATH', async () => {
    const log = freshLog();
    const r = await nodeSpawn(log, 'bash', ['-c', 'echo hi']);
    expect(r).toEqual({ code: 0, stdout: 'fake-client ran\n' });
    expect(readRuns(log)).toEqual([
      { argv: ['bash', '-c', 'echo hi'], shellAs: [firstOnPath('bash', BASE_PATH)] },
    ]);
  });

  it('keeps the caller argv[0] (login shell "-bash")', async () => {
    const log = freshLog();
    const r = await nodeSpawn(log, 'bash', ['-c', 'echo hi'], { argv0: '-bash' });
    expect(r.code).toBe(0);
    expect(readRuns(log)).toEqual([
      { argv: ['-bash', '-c', 'echo hi'], shellAs: [firstOnPath('bash', BASE_PATH)] },
    ]);
  });

  it('node spawn("/bin/bash") -> NONO_SHELL_AS=/bin/bash (the path as named)', async () => {
    const log = freshLog();
    const r = await nodeSpawn(log, '/bin/bash', ['-c', 'echo hi']);
    expect(r).toEqual({ code: 0, stdout: 'fake-client ran\n' });
    expect(readRuns(log)).toEqual([{ argv: ['/bin/bash', '-c', 'echo hi'], shellAs: ['/bin/bash'] }]);
  });

  it('node exec("echo hi") -> /bin/sh is routed', async () => {
    const log = freshLog();
    const out = await runProgram(process.execPath, ['-e', NODE_EXEC, 'echo hi'], scenarioEnv(log));
    expect(JSON.parse(out)).toEqual({ code: 0, stdout: 'fake-client ran\n' });
    expect(readRuns(log)).toEqual([{ argv: ['/bin/sh', '-c', 'echo hi'], shellAs: ['/bin/sh'] }]);
  });

  it('replaces a NONO_SHELL_AS the caller already had', async () => {
    const log = freshLog();
    await nodeSpawn(log, 'bash', ['-c', 'true'], {}, { NONO_SHELL_AS: '/stale/bash' });
    expect(readRuns(log)).toEqual([
      { argv: ['bash', '-c', 'true'], shellAs: [firstOnPath('bash', BASE_PATH)] },
    ]);
  });

  it('bare names are searched on the PATH of the environment the command gets', async () => {
    // libuv points environ at the child's environment before execvp, so that PATH decides.
    const log = freshLog();
    const childPath = '/bin:/usr/bin';
    const childEnv = { PATH: childPath, NONO_TEST_LOG: log };
    const r = await nodeSpawn(log, 'bash', ['-c', 'true'], { env: childEnv }, { PATH: `${proxyDir}:${BASE_PATH}` });
    expect(r).toEqual({ code: 0, stdout: 'fake-client ran\n' });
    expect(readRuns(log)).toEqual([{ argv: ['bash', '-c', 'true'], shellAs: [firstOnPath('bash', childPath)] }]);
  });

  it('python subprocess.run(["bash", ...]) (vfork + execv on each PATH dir)', async () => {
    const log = freshLog();
    const r = await pythonJson(log, PY_SUBPROCESS, [['bash', '-c', 'true'], false, null]);
    expect(r).toEqual({ code: 0, stdout: 'fake-client ran\n' });
    expect(readRuns(log)).toEqual([
      { argv: ['bash', '-c', 'true'], shellAs: [firstOnPath('bash', BASE_PATH)] },
    ]);
  });

  it('python PATH walk: missing and non-executable candidates are not routed, the real bash is', async () => {
    // Python tries execv(<dir>/bash) for every PATH entry; the first two must fail normally so
    // that it moves on, and only the real one may reach the client.
    const log = freshLog();
    const path = `${emptyDir}:${noExecDir}:/bin:/usr/bin`;
    const r = await pythonJson(log, PY_SUBPROCESS, [['bash', '-c', 'true'], false, null], { PATH: path });
    expect(r).toEqual({ code: 0, stdout: 'fake-client ran\n' });
    expect(readRuns(log)).toEqual([{ argv: ['bash', '-c', 'true'], shellAs: [firstOnPath('bash', path)] }]);
  });

  it('python subprocess with env= (execve) keeps the given environment and adds NONO_SHELL_AS', async () => {
    const log = freshLog();
    const env = { PATH: BASE_PATH, NONO_TEST_LOG: log, NONO_SHELL_AS: '/stale' };
    const r = await pythonJson(log, PY_SUBPROCESS, [['bash', '-c', 'true'], false, env]);
    expect(r).toEqual({ code: 0, stdout: 'fake-client ran\n' });
    expect(readRuns(log)).toEqual([
      { argv: ['bash', '-c', 'true'], shellAs: [firstOnPath('bash', BASE_PATH)] },
    ]);
  });

  it('python subprocess.run("true", shell=True) -> /bin/sh is routed', async () => {
    const log = freshLog();
    const r = await pythonJson(log, PY_SUBPROCESS, ['true', true, null]);
    expect(r).toEqual({ code: 0, stdout: 'fake-client ran\n' });
    expect(readRuns(log)).toEqual([{ argv: ['/bin/sh', '-c', 'true'], shellAs: ['/bin/sh'] }]);
  });

  it('dash -c "bash -c true": the inner bash (vfork + execve of an absolute path) is routed', async () => {
    // execa starts dash from this (not preloaded) node process, so dash itself runs for real;
    // the interposer is loaded into dash and catches the bash it starts.
    const log = freshLog();
    const out = await runProgram('dash', ['-c', 'bash -c true; echo dash-done'], scenarioEnv(log));
    expect(out).toBe('fake-client ran\ndash-done');
    expect(readRuns(log)).toEqual([
      { argv: ['bash', '-c', 'true'], shellAs: [firstOnPath('bash', BASE_PATH)] },
    ]);
  });

  it('posix_spawn("/bin/bash") is routed with its file actions applied', async () => {
    const log = freshLog();
    const out = join(dir, `spawn-out-${logCounter}.txt`);
    const r = await pythonJson(log, PY_POSIX_SPAWN, ['posix_spawn', '/bin/bash', ['bash', '-c', 'echo hi'], out]);
    expect(r).toEqual({ code: 0 });
    expect(readFileSync(out, 'utf8')).toBe('fake-client ran\n');
    expect(readRuns(log)).toEqual([{ argv: ['bash', '-c', 'echo hi'], shellAs: ['/bin/bash'] }]);
  });

  it('posix_spawnp("bash") is routed to the bash found on PATH', async () => {
    const log = freshLog();
    const out = join(dir, `spawnp-out-${logCounter}.txt`);
    const r = await pythonJson(log, PY_POSIX_SPAWN, ['posix_spawnp', 'bash', ['sh-name', '-c', 'echo hi'], out]);
    expect(r).toEqual({ code: 0 });
    expect(readFileSync(out, 'utf8')).toBe('fake-client ran\n');
    expect(readRuns(log)).toEqual([
      { argv: ['sh-name', '-c', 'echo hi'], shellAs: [firstOnPath('bash', BASE_PATH)] },
    ]);
  });

  it('execvpe("bash") is routed', async () => {
    const log = freshLog();
    const out = await runProgram(callExecvpe, ['bash', 'login', '-c', 'true'], scenarioEnv(log));
    expect(out).toBe('fake-client ran');
    expect(readRuns(log)).toEqual([{ argv: ['login', '-c', 'true'], shellAs: [firstOnPath('bash', BASE_PATH)] }]);
  });

  it('NONO_SHELLS replaces the default set', async () => {
    const log = freshLog();
    const pathWithBin = `${binDir}:${BASE_PATH}`;
    const bashRun = await nodeSpawn(log, 'bash', ['-c', 'echo hi'], {}, { NONO_SHELLS: 'notbash', PATH: pathWithBin });
    expect(bashRun).toEqual({ code: 0, stdout: 'hi\n' });
    const notbashRun = await nodeSpawn(log, 'notbash', ['x'], {}, { NONO_SHELLS: 'notbash', PATH: pathWithBin });
    expect(notbashRun).toEqual({ code: 0, stdout: 'fake-client ran\n' });
    expect(readRuns(log)).toEqual([{ argv: ['notbash', 'x'], shellAs: [join(binDir, 'notbash')] }]);
  });
});

describe('other starts pass through unchanged', () => {
  it('/bin/true and ls run for real', async () => {
    const log = freshLog();
    expect(await nodeSpawn(log, '/bin/true', [])).toEqual({ code: 0, stdout: '' });
    const ls = await nodeSpawn(log, 'ls', [dir]);
    expect(ls.code).toBe(0);
    expect(ls.stdout?.split('\n')).toContain('fake-client');
    expect(readRuns(log)).toEqual([]);
  });

  it('names that merely contain "bash" (notbash, bashish) are not shells', async () => {
    const log = freshLog();
    const path = `${binDir}:${BASE_PATH}`;
    expect(await nodeSpawn(log, 'notbash', ['a'], {}, { PATH: path })).toEqual({ code: 0, stdout: 'notbash ran a\n' });
    expect(await nodeSpawn(log, join(binDir, 'bashish'), ['b'])).toEqual({ code: 0, stdout: 'bashish ran b\n' });
    const py = await pythonJson(log, PY_SUBPROCESS, [['bashish', 'c'], false, null], { PATH: path });
    expect(py).toEqual({ code: 0, stdout: 'bashish ran c\n' });
    expect(readRuns(log)).toEqual([]);
  });

  it('bare "bash" that resolves to the client (proxy-bin/bash symlink first on PATH) is not rewritten', async () => {
    const log = freshLog();
    const path = `${proxyDir}:${BASE_PATH}`;
    const viaName = await nodeSpawn(log, 'bash', ['-c', 'echo hi'], {}, { PATH: path });
    expect(viaName).toEqual({ code: 0, stdout: 'fake-client ran\n' });
    const viaPath = await nodeSpawn(log, join(proxyDir, 'bash'), ['-c', 'echo hi']);
    expect(viaPath).toEqual({ code: 0, stdout: 'fake-client ran\n' });
    const viaPython = await pythonJson(log, PY_SUBPROCESS, [['bash', '-c', 'true'], false, null], { PATH: path });
    expect(viaPython).toEqual({ code: 0, stdout: 'fake-client ran\n' });
    // The client ran, but as itself: argv as given and no NONO_SHELL_AS from the interposer.
    expect(readRuns(log)).toEqual([
      { argv: ['bash', '-c', 'echo hi'], shellAs: [] },
      { argv: [join(proxyDir, 'bash'), '-c', 'echo hi'], shellAs: [] },
      { argv: ['bash', '-c', 'true'], shellAs: [] },
    ]);
  });

  it('no routing when NONO_SHELL_CLIENT is unset, empty or relative', async () => {
    const log = freshLog();
    for (const client of [undefined, '', 'fake-client']) {
      const r = await nodeSpawn(log, 'bash', ['-c', 'echo hi'], {}, { NONO_SHELL_CLIENT: client });
      expect(r).toEqual({ code: 0, stdout: 'hi\n' });
    }
    expect(readRuns(log)).toEqual([]);
  });
});

describe('errors are the real call’s errors', () => {
  const cases: [string, () => string, string, number][] = [
    ['missing program', () => '/nonexistent/prog', 'FileNotFoundError', 2],
    ['non-executable file', () => join(dir, 'plain.txt'), 'PermissionError', 13],
    ['missing shell-named path', () => '/nonexistent/bash', 'FileNotFoundError', 2],
    ['non-executable shell-named file', () => join(noExecDir, 'bash'), 'PermissionError', 13],
  ];
  for (const [what, path, type, errno] of cases) {
    it(`os.execv of a ${what} raises ${type}`, async () => {
      const log = freshLog();
      expect(await pythonJson(log, PY_EXECV, path())).toEqual({ type, errno });
      expect(readRuns(log)).toEqual([]);
    });
  }

  it('posix_spawn of a missing shell-named path reports ENOENT', async () => {
    const log = freshLog();
    const r = await pythonJson(log, PY_POSIX_SPAWN, ['posix_spawn', '/nonexistent/bash', ['bash'], join(dir, 'x.txt')]);
    expect(r).toEqual({ type: 'FileNotFoundError', errno: 2 });
    expect(readRuns(log)).toEqual([]);
  });

  it('node spawn of a missing shell-named path emits ENOENT', async () => {
    const log = freshLog();
    expect(await nodeSpawn(log, '/nonexistent/bash', ['-c', 'true'])).toEqual({ error: 'ENOENT' });
    expect(readRuns(log)).toEqual([]);
  });
});
