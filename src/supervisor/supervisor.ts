// The supervisor: owns the session socket, authenticates each nono-shell, starts its command in a
// new sandbox of its own, relays signals and the exit status, asks about denials, and kills the
// command's tree when its nono-shell goes away. One instance per `nono run`, inside that
// (unsandboxed) Node process. Everything about the sandbox itself is the platform's
// (platform/types.ts: linux.ts, darwin.ts); nothing here knows which one runs.
import crypto from 'node:crypto';
import path from 'node:path';
import type { NativeAddon, PeerCredentials } from '../native/addon.js';
import { parseShellArgs, flavourOf, unwrapShellPrefix, type ShellInvocation } from '../nono-shell/bash-args.js';
import {
  ProtocolError,
  decodeRequest,
  encodeReply,
  wireForSpawn,
  type Reply,
  type RunRequest,
} from '../nono-shell/protocol.js';
import { chooseShell, type RealShells } from '../nono-shell/real-shells.js';
import { commandEnvironment } from './command-env.js';
import type { AuditLog } from './audit-log.js';
import type { DenialHandler } from './denial-handler.js';
import { leastGrant } from './denials/least-grant.js';
import { LiveQuestions } from './live-questions.js';
import { StderrRelay } from './stderr-relay.js';
import type { Session } from './session.js';
import type { CommandPlatform, HeldHooks, PlatformSandbox, SpawnRequest } from './platform/types.js';
import type { Enrolled, SessionNetwork } from './network/session-network.js';

/**
 * The most nono-shell connections one session serves at once (each is one command in flight).
 * Every connection holds the supervisor's socket and, while its command runs, about six more
 * descriptors (stdin, stdout, stderr, the stderr relay's pair, a pidfd); agents run a handful of
 * commands in parallel. A client beyond the cap is answered at once with an error (nono-shell
 * prints it and exits 126, the command is not run) instead of waiting in the socket's backlog.
 */
export const MAX_CONNECTIONS = 256;

/** How the command reached nono-shell, in the words `nono doctor` uses for its predictions:
 * the interposer, proxy-bin/bash run by path ($SHELL), a `bash` found on PATH (proxy-bin first),
 * or Claude Code's CLAUDE_CODE_SHELL_PREFIX. */
export type Route = 'preload' | 'shell-proxy' | 'path-proxy' | 'shell-prefix';

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
  /** 1, or more when a denied command was re-run with a grant. */
  attempts: number;
}

export interface SupervisorOptions {
  addon: NativeAddon;
  session: Session;
  /** The sandbox backend: its policy, spawning into it, its denials, process trees. */
  platform: CommandPlatform;
  /** Asks about denials; without it, failures are reported as they are. */
  denials?: DenialHandler;
  audit?: AuditLog;
  shells: RealShells;
  /** SHELL inside commands: the user's real shell. */
  realShell: string;
  clientPath: string;
  proxyBinDir: string;
  /** The profile's environment.scrub. */
  scrubEnv?: readonly string[];
  /** Proxy mode: commands reach the network through the session proxy (network/). */
  network?: SessionNetwork;
  /** Live approval: how long a held open waits for the person before it is denied. */
  liveQuestionTimeoutMs?: number;
  log: (line: string) => void;
  onCommandEnd?: (record: CommandRecord) => void;
}

interface Connection {
  id: number;
  peer: PeerCredentials;
  command?: CommandRecord;
  run?: CommandRun;
  finished: boolean;
  /** Aborted when nono-shell goes away: withdraws a prompt about its command. */
  abort: AbortController;
}

/** What it takes to run a command again: the same argv, env, cwd and descriptors. */
interface CommandRun {
  spawn: Omit<SpawnRequest, 'stdio'>;
  /** Of 0, 1, 2: those the caller had closed (their descriptors below are /dev/null placeholders). */
  closed: Set<number>;
  stdin: number;
  stdout: number;
  relay: StderrRelay;
  started: bigint;
  /** Denials already asked about for this command (the loop guard). */
  asked: Set<string>;
  /** Its proxy credentials, in proxy mode. */
  network?: Enrolled;
  /** Live approval: what was decided while the command waited (shim/addon/live_approval.h). */
  live: LiveQuestions;
}

/** proxy-bin/bash is what $SHELL names; proxy-bin/path/ is what is first on PATH. */
function routeOf(req: RunRequest, prefixed: boolean, proxyBinDir: string): Route {
  if (prefixed) return 'shell-prefix';
  if (req.shell_as) return 'preload';
  const argv0 = req.argv[0]!;
  return !argv0.includes('/') || argv0.startsWith(path.join(proxyBinDir, 'path') + '/') ? 'path-proxy' : 'shell-proxy';
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
    const error = (message: string) => encodeReply({ v: 1, type: 'error', message });
    this.o.addon.listen(
      this.o.session.socketPath,
      (id, peer, payload, fds) => this.onFrame(id, peer, payload, fds),
      (id, reason) => this.onClose(id, reason),
      {
        maxConnections: MAX_CONNECTIONS,
        refusals: {
          busy: error(
            `this nono session already serves ${MAX_CONNECTIONS} commands at once (its limit); the command was not run: retry once some have finished`,
          ),
          exhausted: error(
            'the nono supervisor has run out of file descriptors (raise `ulimit -n` before `nono run`, or run fewer commands at once); the command was not run',
          ),
          fdsLost: error(
            "the nono supervisor could not receive this command's stdin, stdout and stderr (it may be out of file descriptors); the command was not run",
          ),
        },
        onRefused: (why) => this.o.log(`refused a connection: ${why}`),
      },
    );
  }

  stop(): void {
    for (const pid of this.running.keys()) this.killTree(pid);
    this.o.addon.closeServer();
  }

  private killTree(pid: number, signal?: NodeJS.Signals): number {
    return this.o.platform.killTree(pid, signal);
  }

  /** The session's command policy as it evolves. */
  private get policy(): CommandPlatform['policy'] {
    return this.o.platform.policy;
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
    this.o.addon.closeConn(conn.id);
    // Closing it ourselves (a refused frame) ends the command like nono-shell going away would.
    this.onClose(conn.id, 'connection refused by the supervisor');
  }

  private refuse(conn: Connection, message: string): void {
    this.o.log(`refused a request from pid ${conn.peer.pid}: ${message}`);
    this.reply(conn, { v: 1, type: 'error', message }, true);
  }

  private onFrame(id: number, peer: PeerCredentials, payload: Buffer, fds: number[]): void {
    let conn = this.conns.get(id);
    if (!conn) {
      conn = { id, peer, finished: false, abort: new AbortController() };
      this.conns.set(id, conn);
    }
    try {
      const req = decodeRequest(payload);
      if (req.type === 'signal') {
        if (fds.length) throw new ProtocolError('a signal frame carries no descriptors');
        if (!conn.command) throw new ProtocolError('signal before run');
        // Only to a command still running: once it is reaped its process group id is free, and
        // may already belong to someone else (during a denial prompt, say).
        if (this.running.get(conn.command.pid) === conn.command) {
          this.o.log(`cmd ${conn.command.seq}: forwarding signal ${req.signal}`);
          try {
            process.kill(-conn.command.pid, req.signal);
          } catch {
            /* already gone */
          }
        }
        // nono-shell treats a supervisor that does not acknowledge as stalled (docs/protocol.md).
        this.reply(conn, { v: 1, type: 'signal_ack', signal: req.signal }, false);
        return;
      }
      if (conn.command) throw new ProtocolError('one command per connection');
      // startCommand owns the descriptors from here, on success and on every refusal.
      const owned = fds;
      fds = [];
      this.startCommand(conn, req, owned);
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
    if (this.o.platform.isInsideCommand(conn.peer.pid, this.commandPids, process.pid)) {
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

    const record: CommandRecord = {
      seq: ++this.seq,
      pid: 0,
      clientPid: conn.peer.pid,
      route: routeOf(req, prefixed !== undefined, this.o.proxyBinDir),
      argv,
      cwd: req.cwd,
      shell: shell.path,
      invocation,
      attempts: 0,
    };
    let relay: StderrRelay;
    try {
      relay = new StderrRelay(this.o.addon, fds[2]!);
    } catch (e) {
      closeFds(); // the relay did not take fds[2]
      throw new ProtocolError(`cannot relay stderr: ${(e as Error).message}`);
    }
    const closed = new Set(req.closed_fds ?? []);
    const network = this.o.network?.enroll(
      { seq: record.seq, command: invocation.command ?? argv.join(' '), cwd: req.cwd, say: (line) => relay.say(line) },
      this.policy.directPorts(),
    );
    const env = commandEnvironment(req.env, { realShell: this.o.realShell, proxyBinDir: this.o.proxyBinDir, scrub: this.o.scrubEnv, proxy: network?.env });
    const asked = new Set<string>();
    const live = new LiveQuestions({
      denials: this.o.denials,
      command: { seq: record.seq, command: record.invocation.command ?? record.argv.join(' '), cwd: record.cwd, asked },
      allowedNow: (h) => this.policy.allows(h),
      addSessionGrants: (grants) => this.policy.addSessionGrants(grants),
      grantsWork: (denials, grants) => this.policy.grantsThatWork(denials, grants),
      gone: conn.abort.signal,
      connected: () => this.conns.has(conn.id),
      say: (line) => relay.say(line),
      log: (line) => this.o.log(`cmd ${record.seq}: ${line}`),
      timeoutMs: this.o.liveQuestionTimeoutMs,
    });
    const run: CommandRun = {
      closed,
      spawn: {
        file: shell.path,
        argv: argv.map(wireForSpawn),
        env: env.map(wireForSpawn),
        cwd: wireForSpawn(req.cwd),
        ignoreSignals: req.ignored_signals,
      },
      stdin: fds[0]!,
      stdout: fds[1]!,
      relay,
      started: process.hrtime.bigint(),
      asked,
      network,
      live,
    };
    conn.command = record;
    conn.run = run;
    try {
      this.spawnAttempt(conn, record, run, this.policy.current);
    } catch (e) {
      conn.command = undefined;
      run.network?.end();
      this.o.addon.closeFd(run.stdin);
      this.o.addon.closeFd(run.stdout);
      run.relay.abort();
      throw new ProtocolError((e as Error).message);
    }
  }

  /** One run of the command (the first, or a re-run with a grant) in its own new domain. */
  private spawnAttempt(conn: Connection, record: CommandRecord, run: CommandRun, sandbox: PlatformSandbox): void {
    record.attempts++;
    const stdio: [number, number, number] = [run.closed.has(0) ? -1 : run.stdin, run.closed.has(1) ? -1 : run.stdout, run.closed.has(2) ? -1 : run.relay.commandFd];
    const onExit = (code: number | null, signal: number | null) => void this.onExit(conn, record, run, sandbox, code, signal);
    // -1: closed in the command, as the caller had it (the placeholder stays with us).
    const pid = this.o.platform.spawn(sandbox, { ...run.spawn, stdio }, onExit, this.heldHooks(record, run));
    record.pid = pid;
    this.running.set(pid, record);
    this.commandPids.add(pid);
  }

  private async onExit(conn: Connection, record: CommandRecord, run: CommandRun, sandbox: PlatformSandbox, code: number | null, signal: number | null): Promise<void> {
    this.running.delete(record.pid);
    this.commandPids.delete(record.pid);
    try {
      await run.relay.drain();
      const failed = code !== 0 || signal !== null;
      if (failed && this.o.denials && this.conns.has(conn.id)) {
        // From the platform's best source (exact records where offered, else the command's messages).
        const denials = await this.o.platform.denials({ pid: record.pid, cwd: record.cwd, code, signal, stderr: run.relay.tail() }, sandbox);
        // Offer only grants the sandbox can express; say so for the others.
        const grantsAll = denials.map(leastGrant);
        const works = denials.length ? this.policy.grantsThatWork(denials, grantsAll) : [];
        for (const [i, d] of denials.entries()) {
          if (works[i]) continue;
          await run.relay.say(
            `nono: the sandbox denied ${d.op} of ${d.path}; ${this.o.platform.sandboxName} cannot allow that without also opening the protected paths next to it (in ${grantsAll[i]!.path}). Write it inside the project instead, or start nono with a profile that grants the whole directory.`,
          );
        }
        // What was settled while the command waited is not asked about, nor re-run, again.
        // (A message may name a symlink to the file the live question showed: compare real paths.)
        const kept = denials.filter((d, i) => works[i] && !run.live.settled(d));
        if (kept.length) {
          const grants = kept.map(leastGrant);
          const outcome = await this.o.denials.resolve(
            { seq: record.seq, command: record.invocation.command ?? record.argv.join(' '), cwd: record.cwd, asked: run.asked },
            kept,
            grants,
            conn.abort.signal,
          );
          if (!this.conns.has(conn.id)) return this.finish(conn, record, run, code, signal);
          if (outcome.choice !== 'deny') {
            const scope = outcome.choice === 'once' ? 'for this run only' : outcome.choice === 'session' ? 'for the rest of the session' : 'saved for good';
            if (outcome.choice !== 'once') this.policy.addSessionGrants(grants);
            const next = outcome.choice === 'once' ? this.policy.oneOff(grants) : this.policy.current;
            await run.relay.say(
              `nono: re-running this command with ${grants.map((g) => g.describe).join(', ')} allowed (${scope}): the output above came from a first run the sandbox denied.`,
            );
            run.relay.resetTail();
            try {
              this.spawnAttempt(conn, record, run, next);
            } finally {
              if (next !== this.policy.current) next.close();
            }
            return;
          }
          for (const line of outcome.lines) await run.relay.say(line);
        }
      }
    } catch (e) {
      this.o.log(`cmd ${record.seq}: ${(e as Error).message}`);
    }
    this.finish(conn, record, run, code, signal);
  }

  /** Live approval: an operation the policy denies is held while the person is asked (platforms
   * that cannot hold one never call these). */
  private heldHooks(record: CommandRecord, run: CommandRun): HeldHooks {
    return {
      onHeld: (held, answer) => {
        void run.live.decide(held, answer).catch((e) => {
          this.o.log(`cmd ${record.seq}: live approval: ${(e as Error).message}`);
          answer(false);
        });
      },
      onWithdraw: (token) => run.live.withdraw(token),
    };
  }

  private finish(conn: Connection, record: CommandRecord, run: CommandRun, code: number | null, signal: number | null): void {
    record.exit = signal !== null ? { signal } : { code: code ?? 0 };
    record.durationMs = Number(process.hrtime.bigint() - run.started) / 1e6;
    conn.finished = true;
    if (this.conns.has(conn.id)) this.reply(conn, { v: 1, type: 'exit', ...record.exit } as Reply, true);
    this.releaseRun(run);
    this.logEnd(record);
    this.o.audit?.write({
      type: 'command',
      seq: record.seq,
      argv: record.argv,
      cwd: record.cwd,
      route: record.route,
      policy: this.policy.current.digest,
      exit: record.exit,
      durationMs: Math.round(record.durationMs * 10) / 10,
      attempts: record.attempts,
      killedBecause: record.killedBecause,
    });
    this.o.onCommandEnd?.(record);
  }

  /** Our copies of the command's descriptors: stdin and stdout now, stderr once its relay ends. */
  private releaseRun(run: CommandRun): void {
    run.network?.end();
    this.o.addon.closeFd(run.stdin);
    this.o.addon.closeFd(run.stdout);
    this.o.addon.closeFd(run.relay.commandFd);
    run.relay.release();
  }

  private onClose(id: number, reason: string): void {
    const conn = this.conns.get(id);
    if (!conn) return;
    this.conns.delete(id);
    const cmd = conn.command;
    if (cmd && !conn.finished) {
      // The agent killed its shell (timeout, Ctrl-C...): the command is not that shell's
      // descendant, so nothing else would stop it. An open prompt about it is withdrawn.
      conn.abort.abort();
      conn.run?.network?.end();
      cmd.killedBecause = `nono-shell went away (${reason})`;
      const n = this.killTree(cmd.pid, 'SIGKILL');
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
