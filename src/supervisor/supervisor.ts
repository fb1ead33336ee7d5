// The supervisor: owns the session socket, authenticates each nono-shell, starts its command in a
// fresh Landlock domain, relays signals and the exit status, and kills the command's tree when
// its nono-shell goes away. One instance per `nono run`, inside that (unsandboxed) Node process.
import crypto from 'node:crypto';
import type { NativeAddon, PeerCredentials } from '../native/addon.js';
import { parseShellArgs, flavourOf, unwrapShellPrefix, type ShellInvocation } from '../nono-shell/bash-args.js';
import {
  ProtocolError,
  decodeRequest,
  encodeReply,
  wireToBytes,
  type Reply,
  type RunRequest,
} from '../nono-shell/protocol.js';
import { chooseShell, type RealShells } from '../nono-shell/real-shells.js';
import { commandEnvironment } from './command-env.js';
import type { CommandSandbox } from './landlock-sandbox.js';
import { isInsideCommand, killCommandTree } from './process-tree.js';
import type { Session } from './session.js';

export type Route = 'preload' | 'proxy' | 'prefix';

/** What the supervisor knows about one command; reported to `onCommandEnd` and the log. */
export interface CommandRecord {
  seq: number;
  pid: number;
  clientPid: number;
  route: Route;
  argv: string[];
  cwd: string;
  shell: string;
  invocation: ShellInvocation;
  exit?: { code: number } | { signal: number };
  killedBecause?: string;
  durationMs?: number;
}

export interface SupervisorOptions {
  addon: NativeAddon;
  session: Session;
  sandbox: CommandSandbox;
  shells: RealShells;
  /** SHELL inside commands: the user's real shell. */
  realShell: string;
  clientPath: string;
  proxyBinDir: string;
  /** The profile's environment.scrub. */
  scrubEnv?: readonly string[];
  log: (line: string) => void;
  onCommandEnd?: (record: CommandRecord) => void;
}

interface Connection {
  id: number;
  peer: PeerCredentials;
  command?: CommandRecord;
  finished: boolean;
}

export class Supervisor {
  private readonly conns = new Map<number, Connection>();
  private readonly running = new Map<number, CommandRecord>(); // by pid
  private readonly commandPids = new Set<number>();
  private seq = 0;
  private readonly secret: Buffer;
  private readonly uid = process.getuid?.() ?? 0;

  constructor(private readonly o: SupervisorOptions) {
    this.secret = Buffer.from(o.session.secret);
  }

  start(): void {
    this.o.addon.listen(
      this.o.session.socketPath,
      (id, peer, payload, fds) => this.onFrame(id, peer, payload, fds),
      (id, reason) => this.onClose(id, reason),
    );
  }

  stop(): void {
    for (const pid of this.running.keys()) killCommandTree(pid);
    this.o.addon.closeServer();
  }

  /** Commands still running (for tests and shutdown). */
  get activeCount(): number {
    return this.running.size;
  }

  private reply(conn: Connection, reply: Reply, thenClose: boolean): void {
    this.o.addon.send(conn.id, encodeReply(reply));
    if (thenClose) this.close(conn);
  }

  private close(conn: Connection): void {
    this.conns.delete(conn.id);
    this.o.addon.closeConn(conn.id);
  }

  private refuse(conn: Connection, message: string): void {
    this.o.log(`refused a request from pid ${conn.peer.pid}: ${message}`);
    this.reply(conn, { v: 1, type: 'error', message }, true);
  }

  private onFrame(id: number, peer: PeerCredentials, payload: Buffer, fds: number[]): void {
    let conn = this.conns.get(id);
    if (!conn) {
      conn = { id, peer, finished: false };
      this.conns.set(id, conn);
    }
    try {
      const req = decodeRequest(payload);
      if (req.type === 'signal') {
        if (fds.length) throw new ProtocolError('a signal frame carries no descriptors');
        if (!conn.command) throw new ProtocolError('signal before run');
        this.o.log(`cmd ${conn.command.seq}: forwarding signal ${req.signal}`);
        try {
          process.kill(-conn.command.pid, req.signal);
        } catch {
          /* already gone */
        }
        return;
      }
      if (conn.command) throw new ProtocolError('one command per connection');
      this.startCommand(conn, req, fds);
      fds = []; // handed over (and closed) by startCommand
    } catch (e) {
      if (e instanceof ProtocolError) this.refuse(conn, e.message);
      else this.refuse(conn, `internal error: ${(e as Error).message}`);
    } finally {
      for (const fd of fds) this.o.addon.closeFd(fd);
    }
  }

  private authorised(req: RunRequest): boolean {
    const given = Buffer.from(req.secret);
    return given.length === this.secret.length && crypto.timingSafeEqual(given, this.secret);
  }

  private startCommand(conn: Connection, req: RunRequest, fds: number[]): void {
    const closeFds = () => fds.forEach((fd) => this.o.addon.closeFd(fd));
    if (conn.peer.uid !== this.uid) {
      closeFds();
      throw new ProtocolError(`connection from uid ${conn.peer.uid} refused: the session belongs to uid ${this.uid}`);
    }
    const prefixed = unwrapShellPrefix(req.argv);
    const argv = prefixed ?? req.argv;
    const shellAs = prefixed ? null : req.shell_as;
    const invocation = parseShellArgs(argv, shellAs ? flavourOf(shellAs) : undefined);
    const shell = chooseShell(invocation.flavour, shellAs, this.o.shells, this.o.clientPath);

    // A nono-shell started from inside one of our sandboxes runs the real shell right there.
    if (isInsideCommand(conn.peer.pid, this.commandPids, process.pid)) {
      closeFds();
      if ('error' in shell) throw new ProtocolError(shell.error);
      this.o.log(`pid ${conn.peer.pid} is inside a sandboxed command: running ${shell.path} there directly`);
      this.reply(conn, { v: 1, type: 'direct', shell: shell.path }, true);
      return;
    }
    if (!this.authorised(req)) {
      closeFds();
      throw new ProtocolError(
        'not authorised: this nono-shell does not carry the session secret (it was not started by the agent of this session)',
      );
    }
    if (fds.length !== 3) {
      closeFds();
      throw new ProtocolError(`expected stdin, stdout and stderr (3 descriptors), got ${fds.length}`);
    }
    if ('error' in shell) {
      closeFds();
      throw new ProtocolError(shell.error);
    }

    const env = commandEnvironment(req.env, { realShell: this.o.realShell, proxyBinDir: this.o.proxyBinDir, scrub: this.o.scrubEnv });
    const started = process.hrtime.bigint();
    const record: CommandRecord = {
      seq: ++this.seq,
      pid: 0,
      clientPid: conn.peer.pid,
      route: prefixed ? 'prefix' : req.shell_as ? 'preload' : 'proxy',
      argv,
      cwd: req.cwd,
      shell: shell.path,
      invocation,
    };
    let pid: number;
    try {
      pid = this.o.addon.spawn(
        {
          file: shell.path,
          argv: argv.map(wireToBytes),
          env: env.map(wireToBytes),
          cwd: wireToBytes(req.cwd),
          stdio: [fds[0]!, fds[1]!, fds[2]!],
          rulesetFd: this.o.sandbox.rulesetFd,
          netFilter: this.o.sandbox.compiled.netFilter,
          ignoreSignals: req.ignored_signals,
        },
        (code, signal) => this.onExit(conn, record, code, signal, started),
      );
    } catch (e) {
      throw new ProtocolError((e as Error).message);
    } finally {
      closeFds(); // the command holds them now; ours would keep pipes from reaching EOF
    }
    record.pid = pid;
    conn.command = record;
    this.running.set(pid, record);
    this.commandPids.add(pid);
  }

  private onExit(conn: Connection, record: CommandRecord, code: number | null, signal: number | null, started: bigint): void {
    record.exit = signal !== null ? { signal } : { code: code ?? 0 };
    record.durationMs = Number(process.hrtime.bigint() - started) / 1e6;
    this.running.delete(record.pid);
    this.commandPids.delete(record.pid);
    conn.finished = true;
    if (this.conns.has(conn.id)) {
      this.reply(conn, { v: 1, type: 'exit', ...record.exit } as Reply, true);
    }
    this.logEnd(record);
    this.o.onCommandEnd?.(record);
  }

  private onClose(id: number, reason: string): void {
    const conn = this.conns.get(id);
    if (!conn) return;
    this.conns.delete(id);
    const cmd = conn.command;
    if (cmd && !conn.finished) {
      // The agent killed its shell (timeout, Ctrl-C...): the command is not that shell's
      // descendant, so nothing else would stop it.
      cmd.killedBecause = `nono-shell went away (${reason})`;
      const n = killCommandTree(cmd.pid, 'SIGKILL');
      this.o.log(`cmd ${cmd.seq}: ${cmd.killedBecause}; killed ${n} process(es) of its tree`);
    }
  }

  private logEnd(r: CommandRecord): void {
    const how = r.exit && 'signal' in r.exit ? `signal ${r.exit.signal}` : `exit ${(r.exit as { code: number }).code}`;
    this.o.log(
      `cmd ${r.seq} pid ${r.pid} route=${r.route} shell=${r.shell} cwd=${r.cwd} argv=${JSON.stringify(r.argv)} -> ${how} (${r.durationMs?.toFixed(1)} ms)`,
    );
  }
}
