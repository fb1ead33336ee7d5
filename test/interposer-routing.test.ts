/**
 * Routing by the LD_PRELOAD interposer (shim/interpose.c), seen from the outside: real programs
 * (node, python3, dash, and test/fixtures/hook_matrix.c for one libc entry point at a time) run
 * with the interposer loaded and start shells the way agents do; a fake client records what it
 * was started with. A routed start shows up as a log record carrying NONO_SHELL_AS and the
 * caller's argv; a start that is not routed runs the real program.
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
  realpathSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const interposeSource = join(repoRoot, 'shim', 'interpose.c');
// NONO_TEST_INTERPOSE_LIB: run these tests against another build (e.g. a deliberately broken one).
// Absolute: the interposer puts back exactly the path it was loaded from, and tests compare it.
const interposeLib = resolve(process.env.NONO_TEST_INTERPOSE_LIB ?? join(repoRoot, 'native', 'libnono-interpose.so'));
const hookMatrixSource = join(repoRoot, 'test', 'fixtures', 'hook_matrix.c');

/*
 * The fake client is a tiny C program rather than a #!/bin/sh script: for a script the kernel
 * replaces argv[0] with the script path, so the caller's argv[0] (e.g. "-bash") could not be
 * checked. It is linked statically, like the real client, so LD_PRELOAD never loads into it and
 * nothing it does is itself subject to routing.
 * Record format: fields "argv=<arg>", "as=<value of a NONO_SHELL_AS entry>", "env=<entry>" for
 * LD_PRELOAD and the NONO_* configuration the interposer carries to children, and
 * "envc=<number of environment entries>", each ended by
 * \x1f; a record is ended by \x1e. The log is $NONO_TEST_LOG, or DEFAULT_LOG when a program on
 * the way dropped the environment (env -i): only the interposer's own variables come back.
 * With NONO_TEST_CLIENT_MODE=shell it then behaves like the supervisor's end of a routed start:
 * it execs the shell NONO_SHELL_AS names with its argv and an environment without LD_PRELOAD, so
 * the command really runs (exit status, pipes, signal dispositions are those of a real shell).
 * Otherwise it prints "fake-client ran" and exits 0.
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
static int starts(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }
int main(int argc, char **argv) {
  const char *log = getenv("NONO_TEST_LOG");
  if (log == NULL) log = DEFAULT_LOG;
  int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return 97;
  for (int i = 0; i < argc; i++) field("argv=", argv[i]);
  size_t envc = 0;
  for (char **e = environ; *e; e++, envc++) {
    if (starts(*e, "NONO_SHELL_AS=")) field("as=", *e + 14);
    else if (starts(*e, "LD_PRELOAD=") || (starts(*e, "NONO_") && !starts(*e, "NONO_TEST_"))) field("env=", *e);
  }
  char digits[24], count[24];
  size_t nd = 0, nc = 0;
  do digits[nd++] = (char)('0' + envc % 10); while ((envc /= 10) != 0);
  while (nd > 0) count[nc++] = digits[--nd];
  count[nc] = '\0';
  field("envc=", count);
  rec[used++] = '\x1e';
  if (write(fd, rec, used) != (ssize_t)used) return 96;
  close(fd);
  const char *mode = getenv("NONO_TEST_CLIENT_MODE");
  if (mode != NULL && strcmp(mode, "shell") == 0) {
    const char *shell = getenv("NONO_SHELL_AS");
    if (shell == NULL) shell = "/bin/sh";
    size_t n = 0;
    for (char **e = environ; *e; e++) n++;
    char *env[n + 1];
    size_t k = 0;
    for (char **e = environ; *e; e++)
      if (!starts(*e, "LD_PRELOAD=") && !starts(*e, "NONO_SHELL_AS=")) env[k++] = *e;
    env[k] = NULL;
    execve(shell, argv, env);
    return 94;
  }
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
interface ClientRunWithEnv extends ClientRun {
  env: Record<string, string>;
}
interface ChildResult {
  code?: number;
  stdout?: string;
  error?: string;
}

let dir: string;
let fakeClient: string;
let defaultLog: string; // where the fake client logs when NONO_TEST_LOG was dropped
let callExecvpe: string;
let hookMatrix: string;
let linkDir: string; // symlinks to shells and other programs
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

function readRunsWithEnv(log: string): ClientRunWithEnv[] {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\x1e')
    .filter((r) => r !== '')
    .map((record) => {
      const run: ClientRunWithEnv = { argv: [], shellAs: [], env: {} };
      for (const f of record.split('\x1f')) {
        if (f.startsWith('argv=')) run.argv.push(f.slice(5));
        else if (f.startsWith('as=')) run.shellAs.push(f.slice(3));
        else if (f.startsWith('env=')) {
          const entry = f.slice(4);
          const eq = entry.indexOf('=');
          run.env[entry.slice(0, eq)] = entry.slice(eq + 1);
        }
      }
      return run;
    });
}

function readRuns(log: string): ClientRun[] {
  return readRunsWithEnv(log).map(({ argv, shellAs }) => ({ argv, shellAs }));
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

/** hook_matrix SCENARIO CMD under the interposer; stdout as lines. */
async function matrix(
  log: string,
  scenario: string,
  cmd: string,
  extraEnv: Record<string, string | undefined> = {},
): Promise<string[]> {
  const out = await runProgram(hookMatrix, [scenario, cmd], scenarioEnv(log, extraEnv));
  return out.split('\n');
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
  // and never exercises a stale library. Same flags as the CMake build: the hooks must export
  // under -fvisibility=hidden.
  if (process.env.NONO_TEST_INTERPOSE_LIB) {
    // Given explicitly: used as is.
  } else if (!existsSync(interposeLib) || statSync(interposeLib).mtimeMs < statSync(interposeSource).mtimeMs) {
    mkdirSync(join(repoRoot, 'native'), { recursive: true });
    await execa(
      'gcc',
      [
        '-shared', '-fPIC', '-O2', '-Wall', '-Wextra', '-D_GNU_SOURCE', '-fvisibility=hidden',
        '-Wl,-z,noseparate-code', '-Wl,-z,norelro', '-Wl,-O1',
        '-o', interposeLib, interposeSource, '-ldl',
      ],
      { cwd: repoRoot },
    );
  }

  dir = mkdtempSync(join(tmpdir(), 'nono-interpose-'));
  fakeClient = join(dir, 'fake-client');
  defaultLog = join(dir, 'default-client.log');
  writeFileSync(join(dir, 'fake-client.c'), FAKE_CLIENT_C);
  await execa('gcc', ['-O2', '-static', `-DDEFAULT_LOG="${defaultLog}"`, '-o', fakeClient, join(dir, 'fake-client.c')]);
  callExecvpe = join(dir, 'call-execvpe');
  writeFileSync(join(dir, 'call-execvpe.c'), CALL_EXECVPE_C);
  await execa('gcc', ['-O2', '-D_GNU_SOURCE', '-o', callExecvpe, join(dir, 'call-execvpe.c')]);
  hookMatrix = join(dir, 'hook_matrix');
  await execa('gcc', ['-O2', '-Wall', '-o', hookMatrix, hookMatrixSource]);

  // links/myshell -> /bin/bash; hop1 -> hop2 -> ../links/myshell (relative hops); mytrue ->
  // /bin/true; loopa <-> loopb; client-alias -> the client.
  linkDir = join(dir, 'links');
  mkdirSync(linkDir);
  symlinkSync('/bin/bash', join(linkDir, 'myshell'));
  symlinkSync('hop2', join(linkDir, 'hop1'));
  symlinkSync('../links/myshell', join(linkDir, 'hop2'));
  symlinkSync('/bin/true', join(linkDir, 'mytrue'));
  symlinkSync('loopb', join(linkDir, 'loopa'));
  symlinkSync('loopa', join(linkDir, 'loopb'));

  // The real interpreter, not a wrapper: pyenv's python3 is a bash script, and under the
  // interposer its own `env bash` would be routed before Python ever started.
  const exe = await execa('python3', ['-c', 'import sys; print(sys.executable)']);
  python = exe.stdout.trim();
  if (!readFileSync(python).subarray(0, 4).equals(Buffer.from('\x7fELF', 'latin1'))) {
    throw new Error(`${python} is not an ELF binary`);
  }

  // Programs whose names contain "bash" but that are not shells. Python scripts: a #!/bin/sh
  // script would (rightly) be routed as a shell script.
  binDir = join(dir, 'bin');
  mkdirSync(binDir);
  const pyEcho = (name: string) => `#!${python}\nimport sys\nprint("${name} ran", *sys.argv[1:])\n`;
  writeScript(join(binDir, 'notbash'), pyEcho('notbash'));
  writeScript(join(binDir, 'bashish'), pyEcho('bashish'));

  proxyDir = join(dir, 'proxy-bin');
  mkdirSync(proxyDir);
  symlinkSync(fakeClient, join(proxyDir, 'bash'));

  emptyDir = join(dir, 'empty');
  mkdirSync(emptyDir);
  noExecDir = join(dir, 'noexec');
  mkdirSync(noExecDir);
  writeScript(join(noExecDir, 'bash'), '#!/bin/sh\necho should not run\n', 0o644);
  writeScript(join(dir, 'plain.txt'), 'not a program\n', 0o644);
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

describe('every start entry point routes a shell (hook_matrix, one libc call each)', () => {
  // The fake client execs the shell it was asked for, so the command's output and exit status
  // prove the whole path works, and the log shows what the client was started with.
  const CMD = 'echo "ran as $0"; exit 3';
  const asNamed = () => '/bin/bash';
  const asOnPath = () => firstOnPath('bash', BASE_PATH);
  // fexecve and execveat with a descriptor name the file the descriptor refers to.
  const asOpened = () => realpathSync('/bin/bash');
  const cases: [string, () => string][] = [
    ['execve', asNamed],
    ['execv', asNamed],
    ['execvp', asOnPath],
    ['execvpe', asOnPath],
    ['execl', asNamed],
    ['execlp', asOnPath],
    ['execle', asNamed],
    ['fexecve', asOpened],
    ['execveat-dirfd', asOpened],
    ['execveat-empty', asOpened],
    ['execveat-abs', asNamed],
    ['execveat-cwd', asOpened],
    ['posix_spawn', asNamed],
    ['posix_spawnp', asOnPath],
    ['vfork', asNamed],
  ];
  for (const [scenario, shellAs] of cases) {
    it(`${scenario}("bash", -c CMD) -> client with NONO_SHELL_AS, the shell runs CMD`, async () => {
      const log = freshLog();
      const out = await matrix(log, scenario, CMD, { NONO_TEST_CLIENT_MODE: 'shell' });
      expect(out).toEqual(['ran as bash', 'exit=3']);
      expect(readRuns(log)).toEqual([{ argv: ['bash', '-c', CMD], shellAs: [shellAs()] }]);
    });
  }

  it('execveat(AT_SYMLINK_NOFOLLOW) of a symlink to bash fails with ELOOP instead of being routed', async () => {
    const log = freshLog();
    const viaLink = await matrix(log, 'execveat-nofollow', 'true', { NONO_TEST_TARGET: join(linkDir, 'myshell') });
    expect(viaLink).toEqual(['errno=40', 'exit=127']);
    const direct = await matrix(log, 'execveat-nofollow', 'true', { NONO_TEST_TARGET: '/bin/bash' });
    expect(direct).toEqual(['fake-client ran', 'exit=0']);
    expect(readRuns(log)).toEqual([{ argv: ['bash', '-c', 'true'], shellAs: ['/bin/bash'] }]);
  });
});

describe('system() and popen() run "sh -c" through the client', () => {
  const shellMode = { NONO_TEST_CLIENT_MODE: 'shell' };

  it('system("exit 7") returns the wait status 7 << 8', async () => {
    const log = freshLog();
    expect(await matrix(log, 'system', 'exit 7', shellMode)).toEqual([`status=${7 << 8}`]);
    expect(readRuns(log)).toEqual([{ argv: ['sh', '-c', 'exit 7'], shellAs: ['/bin/sh'] }]);
  });

  it('system(NULL) says a shell is available without starting one', async () => {
    const log = freshLog();
    expect(await matrix(log, 'system-null', '', shellMode)).toEqual(['status=1']);
    expect(readRuns(log)).toEqual([]);
  });

  it('system() ignores SIGINT/SIGQUIT and blocks SIGCHLD only while it waits, like libc', async () => {
    // The caller catches SIGINT and ignores SIGQUIT. The command reads the caller's ($PPID) and
    // its own masks from /proc; afterwards the caller prints its dispositions again.
    // posix_spawn (libc's and ours alike) blocks every signal in the caller until the child has
    // exec'd, and a busy machine may not have run the caller since: wait for that to pass.
    const settle = 'n=0; while grep -q "^SigBlk:.*ffffffff" /proc/$PPID/status && [ $n -lt 250 ]; do sleep 0.02; n=$((n+1)); done';
    const cmd = `${settle}; grep -E "^Sig(Blk|Ign)" /proc/$PPID/status | sed s/^/caller-/; grep -E "^Sig(Blk|Ign)" /proc/$$/status | sed s/^/child-/`;
    const log = freshLog();
    const routed = await matrix(log, 'system-signals', cmd, shellMode);
    expect(readRuns(log)).toHaveLength(1);
    // The same program with the real system() (interposer disabled) shows the same masks.
    const real = await matrix(log, 'system-signals', cmd, { NONO_SHELL_CLIENT: undefined });
    expect(readRuns(log)).toHaveLength(1);
    expect(routed).toEqual(real);

    const mask = (name: string) => BigInt(`0x${routed.find((l) => l.startsWith(`${name}:`))!.split('\t')[1]}`);
    const bit = (sig: number) => 1n << BigInt(sig - 1);
    const [SIGINT, SIGQUIT, SIGCHLD] = [2, 3, 17];
    expect(mask('caller-SigIgn') & (bit(SIGINT) | bit(SIGQUIT))).toBe(bit(SIGINT) | bit(SIGQUIT));
    expect(mask('caller-SigBlk') & bit(SIGCHLD)).toBe(bit(SIGCHLD));
    // The child: SIGINT back to default (the caller caught it), SIGQUIT still ignored (the caller
    // ignored it), and the caller's original mask without SIGCHLD.
    expect(mask('child-SigIgn') & bit(SIGINT)).toBe(0n);
    expect(mask('child-SigIgn') & bit(SIGQUIT)).toBe(bit(SIGQUIT));
    expect(mask('child-SigBlk') & bit(SIGCHLD)).toBe(0n);
    expect(routed.slice(-2)).toEqual(['status=0', 'after: sigint=handler sigquit=ignored sigchld_blocked=0']);
  });

  it('popen("r") reads the command output; pclose returns its wait status', async () => {
    const log = freshLog();
    const out = await matrix(log, 'popen-r', 'echo from-popen; exit 4', shellMode);
    expect(out).toEqual(['read=from-popen', 'cloexec=0', `status=${4 << 8}`]);
    expect(readRuns(log)).toEqual([{ argv: ['sh', '-c', 'echo from-popen; exit 4'], shellAs: ['/bin/sh'] }]);
  });

  it('popen("re") sets close-on-exec on the caller end', async () => {
    const log = freshLog();
    expect(await matrix(log, 'popen-re', 'echo x', shellMode)).toEqual(['read=x', 'cloexec=1', 'status=0']);
    expect(readRuns(log)).toEqual([{ argv: ['sh', '-c', 'echo x'], shellAs: ['/bin/sh'] }]);
  });

  it('popen("w") feeds the command stdin', async () => {
    const log = freshLog();
    const out = await matrix(log, 'popen-w', 'read x; echo "got:$x"; exit 5', shellMode);
    expect(out).toEqual(['got:fed-data', `status=${5 << 8}`]);
    expect(readRuns(log)).toHaveLength(1);
  });

  it('a second popen child does not hold the first stream open', async () => {
    const log = freshLog();
    expect(await matrix(log, 'popen-two', '', shellMode)).toEqual(['second child: closed', 'status=0,0']);
    expect(readRuns(log)).toHaveLength(2);
  });

  it('an invalid popen mode fails with EINVAL and starts nothing', async () => {
    const log = freshLog();
    expect(await matrix(log, 'popen-badmode', 'true', shellMode)).toEqual([
      'mode=rw null=1 errno=22',
      'mode=x null=1 errno=22',
      'mode= null=1 errno=22',
      'mode=rb null=1 errno=22',
    ]);
    expect(readRuns(log)).toEqual([]);
  });

  it('pclose of a stream that is not from popen goes to the real pclose', async () => {
    const log = freshLog();
    expect(await matrix(log, 'pclose-foreign', '', shellMode)).toEqual(['status=0']);
  });

  it('the real system()/popen() run when sh is not a shell (NONO_SHELLS=bash) or routing is off', async () => {
    const log = freshLog();
    for (const extra of [{ NONO_SHELLS: 'bash' }, { NONO_SHELL_CLIENT: undefined }]) {
      expect(await matrix(log, 'system', 'echo real-sh; exit 2', extra)).toEqual(['real-sh', `status=${2 << 8}`]);
      expect(await matrix(log, 'popen-r', 'echo real-sh', extra)).toEqual(['read=real-sh', 'cloexec=0', 'status=0']);
    }
    expect(readRuns(log)).toEqual([]);
  });

  it('system() follows the exec decision for /bin/sh: routed when /bin/sh links to a listed shell', async () => {
    // Debian: /bin/sh -> dash. With only "dash" listed, an exec of /bin/sh is routed by the
    // symlink rule, and system() with it (NONO_SHELL_AS still names /bin/sh).
    const target = basename(realpathSync('/bin/sh'));
    if (target === 'sh') return; // /bin/sh is not a link here: nothing to show
    const log = freshLog();
    expect(await matrix(log, 'system', 'exit 0', { NONO_SHELLS: target })).toEqual(['fake-client ran', 'status=0']);
    expect(readRuns(log)).toEqual([{ argv: ['sh', '-c', 'exit 0'], shellAs: ['/bin/sh'] }]);
  });
});

describe('symlinks to shells', () => {
  it('a symlink myshell -> /bin/bash, exec\'d by path or found on PATH, is routed as itself', async () => {
    const log = freshLog();
    const link = join(linkDir, 'myshell');
    expect(await nodeSpawn(log, link, ['-c', 'echo hi'])).toEqual({ code: 0, stdout: 'fake-client ran\n' });
    const viaPath = await nodeSpawn(log, 'myshell', ['-c', 'echo hi'], {}, { PATH: `${linkDir}:${BASE_PATH}` });
    expect(viaPath).toEqual({ code: 0, stdout: 'fake-client ran\n' });
    // NONO_SHELL_AS is the file the caller named; the supervisor resolves it itself.
    expect(readRuns(log)).toEqual([
      { argv: [link, '-c', 'echo hi'], shellAs: [link] },
      { argv: ['myshell', '-c', 'echo hi'], shellAs: [link] },
    ]);
  });

  it('a chain with relative hops (hop1 -> hop2 -> ../links/myshell -> /bin/bash) is routed', async () => {
    const log = freshLog();
    const r = await pythonJson(log, PY_SUBPROCESS, [[join(linkDir, 'hop1'), '-c', 'true'], false, null]);
    expect(r).toEqual({ code: 0, stdout: 'fake-client ran\n' });
    expect(readRuns(log)).toEqual([{ argv: [join(linkDir, 'hop1'), '-c', 'true'], shellAs: [join(linkDir, 'hop1')] }]);
  });

  it('a symlink to a program that is not a shell runs it for real', async () => {
    const log = freshLog();
    expect(await nodeSpawn(log, join(linkDir, 'mytrue'), [])).toEqual({ code: 0, stdout: '' });
    expect(readRuns(log)).toEqual([]);
  });

  it('a symlink loop is not routed: the caller gets ELOOP from the real call', async () => {
    const log = freshLog();
    expect(await pythonJson(log, PY_EXECV, join(linkDir, 'loopa'))).toEqual({ type: 'OSError', errno: 40 });
    expect(readRuns(log)).toEqual([]);
  });

  it('/usr/bin/rbash (a symlink to bash on Debian) is routed on purpose: restricted bash is still bash', async () => {
    // rbash is not in the default name set; it is caught by the symlink rule only. The
    // supervisor then runs /usr/bin/rbash, so the restriction is kept inside the sandbox.
    const rbash = '/usr/bin/rbash';
    let isLinkToBash = false;
    try {
      isLinkToBash = basename(realpathSync(rbash)) === 'bash' && realpathSync(rbash) !== rbash;
    } catch {
      /* no rbash */
    }
    if (!isLinkToBash) return;
    const log = freshLog();
    expect(await nodeSpawn(log, rbash, ['-c', 'true'])).toEqual({ code: 0, stdout: 'fake-client ran\n' });
    expect(readRuns(log)).toEqual([{ argv: [rbash, '-c', 'true'], shellAs: [rbash] }]);
  });
});

describe('children keep the interposer and its configuration (inheritance)', () => {
  // What a session sets; every one of them must come back when a program drops its environment.
  const handshakeNowhere = () => join(dir, 'no-such-handshake.sock');
  const sessionEnv = () => ({
    NONO_SOCKET: join(dir, 'no-such-supervisor.sock'),
    NONO_SESSION_SECRET: 'secret-123',
    NONO_SESSION_ID: 'session-abc',
    NONO_SHELLS: 'bash,sh,dash,zsh',
    NONO_HANDSHAKE: handshakeNowhere(),
  });
  const expectedKept = () => ({ LD_PRELOAD: interposeLib, NONO_SHELL_CLIENT: fakeClient, ...sessionEnv() });

  const PY_EXECVE_ENV = `
import json, os, sys
os.execve("/usr/bin/env", ["env"], json.loads(sys.argv[1]))
`;
  async function envAfterExecve(given: Record<string, string>, extra: Record<string, string | undefined> = {}) {
    const out = await runProgram(python, ['-c', PY_EXECVE_ENV, JSON.stringify(given)], scenarioEnv(freshLog(), extra));
    return Object.fromEntries(
      out
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
  }

  it('`env -i /bin/bash -c true` is still routed, and the client gets LD_PRELOAD and the NONO_* values', async () => {
    rmSync(defaultLog, { force: true });
    const out = await runProgram('/usr/bin/env', ['-i', '/bin/bash', '-c', 'true'], scenarioEnv(freshLog(), sessionEnv()));
    expect(out).toBe('fake-client ran');
    const runs = readRunsWithEnv(defaultLog);
    expect(runs).toEqual([{ argv: ['/bin/bash', '-c', 'true'], shellAs: ['/bin/bash'], env: expectedKept() }]);
  });

  it('hook_matrix env-i: execve of /usr/bin/env with an EMPTY envp, then env execvp("bash")', async () => {
    rmSync(defaultLog, { force: true });
    const out = await matrix(freshLog(), 'env-i', 'true', sessionEnv());
    expect(out).toEqual(['fake-client ran', 'exit=0']);
    // No PATH left: bash is found on execvp's default path.
    expect(readRunsWithEnv(defaultLog)).toEqual([
      { argv: ['bash', '-c', 'true'], shellAs: [firstOnPath('bash', '/bin:/usr/bin')], env: expectedKept() },
    ]);
  });

  it('a non-shell exec with an emptied environment gets LD_PRELOAD and the NONO_* values back', async () => {
    expect(await envAfterExecve({}, sessionEnv())).toEqual(expectedKept());
  });

  it('an LD_PRELOAD of the caller stays, after ours', async () => {
    // ld.so warns on stderr that the other library does not exist; env still runs.
    const env = await envAfterExecve({ LD_PRELOAD: '/nonexistent/other.so' });
    expect(env.LD_PRELOAD).toBe(`${interposeLib}:/nonexistent/other.so`);
  });

  it('nothing is changed when nothing is missing, and a value the caller set wins', async () => {
    const given = {
      ...expectedKept(),
      LD_PRELOAD: `/nonexistent/other.so:${interposeLib}`,
      NONO_SESSION_ID: 'chosen-by-caller',
      OTHER: 'kept',
    };
    expect(await envAfterExecve(given, sessionEnv())).toEqual(given);
  });

  it('a routed start with a fresh environment also gets them (python subprocess env={})', async () => {
    const log = freshLog();
    // NONO_TEST_LOG is passed on purpose: only the interposer's own variables are put back.
    const r = await pythonJson(log, PY_SUBPROCESS, [['/bin/bash', '-c', 'true'], false, { NONO_TEST_LOG: log }], sessionEnv());
    expect(r).toEqual({ code: 0, stdout: 'fake-client ran\n' });
    expect(readRunsWithEnv(log)).toEqual([{ argv: ['/bin/bash', '-c', 'true'], shellAs: ['/bin/bash'], env: expectedKept() }]);
  });

  it('with routing off (no NONO_SHELL_CLIENT) the environment is left alone', async () => {
    expect(await envAfterExecve({}, { ...sessionEnv(), NONO_SHELL_CLIENT: undefined })).toEqual({});
  });
});

describe('handshake: every process that loads the interposer says so', () => {
  // Binds a Unix datagram socket with SO_PASSCRED, runs /bin/true under the preload, and reports
  // each datagram with the sender pid the kernel attached. Python itself runs without the preload.
  const PY_HANDSHAKE = `
import json, os, socket, struct, subprocess, sys
sock_path, env = json.loads(sys.argv[1])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(sock_path)
if env.get("NONO_HANDSHAKE") == "@": env["NONO_HANDSHAKE"] = sock_path
child = subprocess.Popen(["/bin/true"], env=env)
child.wait()
s.settimeout(0.3)
got = []
while True:
    try:
        data, anc, _, _ = s.recvmsg(8192, socket.CMSG_SPACE(12))
    except socket.timeout:
        break
    pid = None
    for level, kind, cdata in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", cdata[:12])[0]
    got.append({"payload": data.decode(), "pid": pid})
os.unlink(sock_path)
print(json.dumps({"child": child.pid, "got": got}))
`;
  async function handshake(childEnv: Record<string, string>) {
    const sock = join(dir, `handshake-${++logCounter}.sock`);
    const out = await runProgram(python, ['-c', PY_HANDSHAKE, JSON.stringify([sock, childEnv])], { PATH: BASE_PATH });
    return JSON.parse(out) as { child: number; got: { payload: string; pid: number }[] };
  }
  const preloadEnv = () => ({ PATH: BASE_PATH, LD_PRELOAD: interposeLib, NONO_SHELL_CLIENT: fakeClient });

  it('/bin/true sends "v1\\t<its exe>" once, and the kernel names its pid', async () => {
    const r = await handshake({ ...preloadEnv(), NONO_HANDSHAKE: '@' });
    expect(r.got).toEqual([{ payload: `v1\t${realpathSync('/bin/true')}`, pid: r.child }]);
  });

  it('nothing is sent without NONO_HANDSHAKE, or with routing off', async () => {
    expect((await handshake(preloadEnv())).got).toEqual([]);
    const { NONO_SHELL_CLIENT: _client, ...noClient } = preloadEnv();
    expect((await handshake({ ...noClient, NONO_HANDSHAKE: '@' })).got).toEqual([]);
  });

  it('a missing handshake socket is not an error for the program', async () => {
    const log = freshLog();
    const r = await nodeSpawn(log, '/bin/true', [], {}, { NONO_HANDSHAKE: join(dir, 'nobody-listens.sock') });
    expect(r).toEqual({ code: 0, stdout: '' });
  });
});

/** hook_matrix file:ENTRY FILE ARGS... under the interposer; stdout as lines. */
async function fileMatrix(
  log: string,
  entry: string,
  file: string,
  args: string[],
  extraEnv: Record<string, string | undefined> = {},
): Promise<string[]> {
  const out = await runProgram(hookMatrix, [`file:${entry}`, file, ...args], scenarioEnv(log, extraEnv));
  return out.split('\n');
}

describe('scripts: a shell started without naming one (#!, and glibc\'s execvp fallback to /bin/sh)', () => {
  // Every script prints what its shell sees: "$0|$1|...|pwd=<cwd>".
  const BODY = `printf '%s|' "$0" "$@"; echo "pwd=$PWD"\n`;
  let sdir: string; // scripts
  let sdirReal: string;
  const script = (name: string) => join(sdir, name);
  const routingOff = { NONO_SHELL_CLIENT: undefined };
  const shellMode = { NONO_TEST_CLIENT_MODE: 'shell' };

  beforeAll(() => {
    sdir = join(dir, 'scripts');
    mkdirSync(sdir);
    sdirReal = realpathSync(sdir);
    const put = (name: string, head: string, mode = 0o755) => writeScript(join(sdir, name), head + BODY, mode);
    put('s-bash', '#!/bin/bash\n');
    put('s-opt', '#!/bin/bash -e\n');
    put('s-sh', '#!/bin/sh\n');
    put('s-dash', '#!/bin/dash\n');
    put('s-spaces', '#! \t/bin/bash \t \n');
    put('s-crlf-opt', '#!/bin/bash -e\r\n');
    put('s-crlf', '#!/bin/bash\r\n');
    put('s-link', `#!${join(linkDir, 'myshell')}\n`);
    put('s-env', '#!/usr/bin/env bash\n');
    put('s-env-S', '#!/usr/bin/env -S bash -e -u\n');
    put('s-env-quoted', '#!/usr/bin/env -S bash -c "exit 3"\n');
    put('s-mid', '#!/bin/bash -e\n');
    put('s-outer', `#!${join(sdir, 's-mid')} one  two\n`);
    // c1 -> c2 -> ... -> c5 -> /bin/bash: five scripts, the kernel's limit; c0 is one too many.
    put('c5', '#!/bin/bash\n');
    for (let i = 4; i >= 0; i--) put(`c${i}`, `#!${join(sdir, `c${i + 1}`)}\n`);
    put('s-noexec', '#!/bin/bash\n', 0o644);
    put('s-missing', `#!${join(sdir, 'no-such-interpreter')}\n`);
    put('s-unreadable', '#!/bin/bash\n', 0o111);
    writeScript(join(sdir, 's-python'), `#!${python}\nimport sys\nprint("python ran", *sys.argv[1:])\n`);
    writeScript(join(sdir, 's-node'), `#!${process.execPath}\nconsole.log('node ran', ...process.argv.slice(2));\n`);
    writeScript(join(sdir, 's-env-python'), `#!/usr/bin/env python3\nimport sys\nprint("env python ran", *sys.argv[1:])\n`);
    // No "#!" and not a binary: the kernel says ENOEXEC; glibc's execvp then runs /bin/sh FILE.
    writeScript(join(sdir, 'plain'), BODY);
    symlinkSync('s-bash', join(sdir, 'link-to-script'));
  });

  it('every exec entry point routes a #!/bin/bash script with the argv the kernel gives bash', async () => {
    const args = ['a', 'b c'];
    const log = freshLog();
    const byPath = ['execve', 'execv', 'execl', 'execle', 'vfork', 'execveat-cwd', 'posix_spawn', 'execvp', 'execvpe', 'execlp'];
    for (const entry of byPath) {
      expect(await fileMatrix(log, entry, script('s-bash'), args), entry).toEqual(['fake-client ran', 'exit=0']);
    }
    // Bare names found on PATH (glibc builds "<dir>/<name>", which the kernel passes on).
    const path = `${sdir}:${BASE_PATH}`;
    const byName = ['execvp', 'execvpe', 'execlp', 'posix_spawnp'];
    for (const entry of byName) {
      expect(await fileMatrix(log, entry, 's-bash', args, { PATH: path }), entry).toEqual(['fake-client ran', 'exit=0']);
    }
    // Through a descriptor the kernel would say /dev/fd/N: the sandboxed shell gets the file's path.
    const byFd = ['fexecve', 'execveat-dirfd'];
    for (const entry of byFd) {
      expect(await fileMatrix(log, entry, script('s-bash'), args), entry).toEqual(['fake-client ran', 'exit=0']);
    }
    // A relative name stays relative: bash opens it in the caller's directory (matrix runs in dir).
    expect(await fileMatrix(log, 'execve', 'scripts/s-bash', args)).toEqual(['fake-client ran', 'exit=0']);
    // A symlink to a script is a script.
    expect(await fileMatrix(log, 'execve', script('link-to-script'), args)).toEqual(['fake-client ran', 'exit=0']);

    const routed = (scriptArg: string) => ({ argv: ['/bin/bash', scriptArg, ...args], shellAs: ['/bin/bash'] });
    expect(readRuns(log)).toEqual([
      ...byPath.map(() => routed(script('s-bash'))),
      ...byName.map(() => routed(join(sdir, 's-bash'))),
      ...byFd.map(() => routed(join(sdirReal, 's-bash'))),
      routed('scripts/s-bash'),
      routed(script('link-to-script')),
    ]);
  });

  it('#! lines as the kernel reads them: an option, sh, dash, spaces, CR, a symlink to bash, env, env -S, nested scripts', async () => {
    const log = freshLog();
    const cases: [string, string[], string][] = [
      // script, the argv the client must get before the script path, NONO_SHELL_AS
      ['s-opt', ['/bin/bash', '-e'], '/bin/bash'],
      ['s-sh', ['/bin/sh'], '/bin/sh'],
      ['s-dash', ['/bin/dash'], '/bin/dash'],
      ['s-spaces', ['/bin/bash'], '/bin/bash'],
      ['s-crlf-opt', ['/bin/bash', '-e\r'], '/bin/bash'], // the kernel keeps the CR in the argument
      ['s-link', [join(linkDir, 'myshell')], join(linkDir, 'myshell')],
      ['s-env', ['bash'], firstOnPath('bash', BASE_PATH)],
      ['s-env-S', ['bash', '-e', '-u'], firstOnPath('bash', BASE_PATH)],
      ['s-outer', ['/bin/bash', '-e', script('s-mid'), 'one  two'], '/bin/bash'],
      ['c1', ['/bin/bash', script('c5'), script('c4'), script('c3'), script('c2')], '/bin/bash'],
    ];
    for (const [name] of cases) {
      expect(await fileMatrix(log, 'execve', script(name), ['x']), name).toEqual(['fake-client ran', 'exit=0']);
    }
    expect(readRuns(log)).toEqual(
      cases.map(([name, prefix, as]) => ({ argv: [...prefix, script(name), 'x'], shellAs: [as] })),
    );
  });

  it('a routed script runs with the $0, arguments and directory it would have had (client in shell mode)', async () => {
    // The fake client in shell mode execs NONO_SHELL_AS with its argv, as the supervisor does.
    for (const [entry, file, extra] of [
      ['execve', script('s-opt'), {}],
      ['execve', 'scripts/s-bash', {}],
      ['execve', script('s-env-S'), {}],
      ['execve', script('s-outer'), {}],
      ['execve', script('c1'), {}],
      ['posix_spawnp', 's-dash', { PATH: `${sdir}:${BASE_PATH}` }],
      ['execvp', script('plain'), {}],
      ['execlp', 'plain', { PATH: `${sdir}:${BASE_PATH}` }],
    ] as [string, string, Record<string, string>][]) {
      const log = freshLog();
      const routed = await fileMatrix(log, entry, file, ['a', 'b c'], { ...shellMode, ...extra });
      expect(readRuns(log), `${entry} ${file}`).toHaveLength(1);
      const real = await fileMatrix(log, entry, file, ['a', 'b c'], { ...routingOff, ...extra });
      expect(readRuns(log)).toHaveLength(1);
      expect(routed, `${entry} ${file}`).toEqual(real);
      expect(routed.at(-1)).toBe('exit=0');
    }
  });

  it('non-shell interpreters (python, node, env python3) run for real, untouched', async () => {
    const log = freshLog();
    expect(await fileMatrix(log, 'execve', script('s-python'), ['a'])).toEqual(['python ran a', 'exit=0']);
    expect(await fileMatrix(log, 'execve', script('s-node'), ['b'])).toEqual(['node ran b', 'exit=0']);
    expect(await fileMatrix(log, 'execvp', script('s-env-python'), ['c'])).toEqual(['env python ran c', 'exit=0']);
    expect(await fileMatrix(log, 'posix_spawn', script('s-python'), ['d'])).toEqual(['python ran d', 'exit=0']);
    expect(readRuns(log)).toEqual([]);
  });

  it('an env -S line with quotes is left to env, whose own execvp is routed', async () => {
    const log = freshLog();
    expect(await fileMatrix(log, 'execve', script('s-env-quoted'), [])).toEqual(['fake-client ran', 'exit=0']);
    // env split the line itself: bash -c "exit 3" <script>
    expect(readRuns(log)).toEqual([
      { argv: ['bash', '-c', 'exit 3', script('s-env-quoted')], shellAs: [firstOnPath('bash', BASE_PATH)] },
    ]);
  });

  it('scripts the kernel would not run fail exactly as without the interposer, and start nothing', async () => {
    const log = freshLog();
    const cases: [string, string, string][] = [
      ['execve', script('s-crlf'), 'errno=2'], // "/bin/bash\r" does not exist
      ['execve', script('s-missing'), 'errno=2'],
      ['execve', script('s-noexec'), 'errno=13'],
      ['execvp', script('s-noexec'), 'errno=13'],
      ['posix_spawn', script('s-noexec'), 'errno=13'],
      ['execve', script('c0'), 'errno=40'], // six nested scripts: ELOOP
      ['fexecve-cloexec', script('s-bash'), 'errno=2'], // the kernel: /dev/fd/N is gone after exec
      // Without "#!", only execvp/execvpe/execlp fall back to /bin/sh; these report ENOEXEC.
      ['execve', script('plain'), 'errno=8'],
      ['execv', script('plain'), 'errno=8'],
      ['posix_spawn', script('plain'), 'errno=8'],
      ['posix_spawnp', script('plain'), 'errno=8'],
    ];
    for (const [entry, file, error] of cases) {
      const routed = await fileMatrix(log, entry, file, ['x']);
      const real = await fileMatrix(log, entry, file, ['x'], routingOff);
      expect(routed, `${entry} ${file}`).toEqual(real);
      expect(routed[0], `${entry} ${file}`).toBe(error);
    }
    expect(readRuns(log)).toEqual([]);
  });

  it('a shell script with no path the sandbox could open (a memfd) is refused with EACCES, not run unsandboxed', async () => {
    // The kernel would start bash itself on /dev/fd/N, outside any hook.
    const log = freshLog();
    for (const entry of ['fexecve-memfd', 'execveat-memfd']) {
      for (const name of ['s-bash', 's-link', 'c3']) {
        expect(await fileMatrix(log, entry, script(name), ['x']), `${entry} ${name}`).toEqual(['errno=13', 'exit=127']);
        // without the interposer it really runs: bash reads the script through /dev/fd/N
        const real = await fileMatrix(log, entry, script(name), ['x'], routingOff);
        expect(real.at(-1), `${entry} ${name}`).toBe('exit=0');
      }
      // Other interpreters, and env (whose own execvp is routed), run as they would.
      expect(await fileMatrix(log, entry, script('s-python'), ['y'])).toEqual(['python ran y', 'exit=0']);
    }
    expect(readRuns(log)).toEqual([]);
  });

  it('a script we may execute but not read (0111): routed when we can read it anyway (root), else left to fail as it would', async () => {
    const log = freshLog();
    const routed = await fileMatrix(log, 'execve', script('s-unreadable'), ['x']);
    if (process.getuid?.() === 0) {
      // root reads any file: the "#!" line is seen and the script is routed
      expect(routed).toEqual(['fake-client ran', 'exit=0']);
      expect(readRuns(log)).toEqual([{ argv: ['/bin/bash', script('s-unreadable'), 'x'], shellAs: ['/bin/bash'] }]);
    } else {
      // bash itself cannot read it either: same failure with and without the interposer
      expect(routed).toEqual(await fileMatrix(log, 'execve', script('s-unreadable'), ['x'], routingOff));
      expect(readRuns(log)).toEqual([]);
    }
  });

  it('glibc\'s execvp fallback for a file without "#!" (/bin/sh FILE ARGS) is routed: execvp, execvpe, execlp, node spawn', async () => {
    const log = freshLog();
    const path = `${sdir}:${BASE_PATH}`;
    const entries = ['execvp', 'execvpe', 'execlp'];
    for (const entry of entries) {
      expect(await fileMatrix(log, entry, script('plain'), ['a']), entry).toEqual(['fake-client ran', 'exit=0']);
      expect(await fileMatrix(log, entry, 'plain', ['a'], { PATH: path }), entry).toEqual(['fake-client ran', 'exit=0']);
    }
    // libuv (node child_process) is fork + execvp.
    expect(await nodeSpawn(log, 'plain', ['a'], {}, { PATH: path })).toEqual({ code: 0, stdout: 'fake-client ran\n' });
    const sh = (file: string) => ({ argv: ['/bin/sh', file, 'a'], shellAs: ['/bin/sh'] });
    expect(readRuns(log)).toEqual([
      ...entries.flatMap(() => [sh(script('plain')), sh(join(sdir, 'plain'))]),
      sh(join(sdir, 'plain')),
    ]);
  });

  it('node spawn and python subprocess of a script are routed', async () => {
    const log = freshLog();
    expect(await nodeSpawn(log, script('s-bash'), ['n'])).toEqual({ code: 0, stdout: 'fake-client ran\n' });
    const py = await pythonJson(log, PY_SUBPROCESS, [['s-env', 'p'], false, null], { PATH: `${sdir}:${BASE_PATH}` });
    expect(py).toEqual({ code: 0, stdout: 'fake-client ran\n' });
    expect(readRuns(log)).toEqual([
      { argv: ['/bin/bash', script('s-bash'), 'n'], shellAs: ['/bin/bash'] },
      { argv: ['bash', join(sdir, 's-env'), 'p'], shellAs: [firstOnPath('bash', BASE_PATH)] },
    ]);
  });
});

describe('big environments and small stacks', () => {
  // The fake client counts its environment (bash itself takes seconds to start with 40 000
  // variables, so it is not run here).
  const bigEnv = (n: number) => {
    const env: Record<string, string> = {};
    for (let i = 0; i < n; i++) env[`V${String(i).padStart(6, '0')}`] = 'x';
    return env;
  };
  const envCounts = (log: string) =>
    readFileSync(log, 'utf8')
      .split('\x1e')
      .filter((r) => r !== '')
      .map((r) => Number(r.split('\x1f').find((f) => f.startsWith('envc='))!.slice(5)));
  // The client's environment: the caller's (n + PATH, HOME, LD_PRELOAD, NONO_SHELL_CLIENT,
  // NONO_TEST_LOG) plus NONO_SHELL_AS.
  const expected = (n: number) => n + 5 + 1;

  for (const n of [3000, 40_000]) {
    it(`an environment of ${n} entries is routed whole (execve in a vfork child, posix_spawn, a script)`, async () => {
      // 40 000 is past the old limit of 32 768 entries, which refused routed starts with E2BIG.
      const log = freshLog();
      expect(await matrix(log, 'vfork', 'true', bigEnv(n))).toEqual(['fake-client ran', 'exit=0']);
      expect(await matrix(log, 'posix_spawn', 'true', bigEnv(n))).toEqual(['fake-client ran', 'exit=0']);
      const script = join(dir, `big-env-${n}.sh`);
      writeScript(script, '#!/bin/bash\ntrue\n');
      expect(await fileMatrix(log, 'vfork', script, [], bigEnv(n))).toEqual(['fake-client ran', 'exit=0']);
      expect(envCounts(log)).toEqual([expected(n), expected(n), expected(n)]);
    });
  }

  it('posix_spawn of bash from a thread with a 64 KiB stack and 10 000 environment entries', async () => {
    // The old code built the new environment (8 bytes per entry) on that stack: SIGSEGV.
    const log = freshLog();
    expect(await matrix(log, 'tiny-stack-spawn', 'true', bigEnv(10_000))).toEqual(['fake-client ran', 'exit=0']);
    expect(envCounts(log)).toEqual([expected(10_000)]);
  });
});

describe('fork() while other threads are in popen()/system()', () => {
  const shellMode = { NONO_TEST_CLIENT_MODE: 'shell' };

  it('a child forked while another thread holds the popen lock can still popen (no inherited lock)', async () => {
    const out = await matrix(freshLog(), 'fork-during-popen', '', shellMode);
    expect(out).toEqual(['children=30 ok=30 hung=0 other=0']);
  }, 120_000);

  it('the same for system()', async () => {
    const out = await matrix(freshLog(), 'fork-during-system', '', shellMode);
    expect(out).toEqual(['children=30 ok=30 hung=0 other=0']);
  }, 120_000);

  it('a child forked while another thread is inside system() gets SIGINT back (no thread of its own is in system())', async () => {
    const out = await matrix(freshLog(), 'fork-during-system-sigint', '', shellMode);
    expect(out).toEqual(['child sigint=default', `child status=${4 << 8}`, 'child exit=0']);
  }, 30_000);
});
