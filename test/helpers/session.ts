// An in-process supervisor session for tests that drive nono-shell directly: the supervisor runs
// in the test process (real socket, real Landlock), the client runs as a real child process with
// the environment an agent inside `nono run` would give it.
import { startSession, type RunningSession, type SessionOptions } from '../../src/supervisor/start-session.js';
import type { CommandRecord } from '../../src/supervisor/supervisor.js';
import { proxyBinDir } from '../../src/native/paths.js';

export interface TestSession extends RunningSession {
  /** Environment for a nono-shell started "by the agent". */
  env: Record<string, string>;
  records: CommandRecord[];
  logLines: string[];
}

export function startTestSession(opts: Partial<SessionOptions> & { workdir: string; home: string }): TestSession {
  const records: CommandRecord[] = [];
  const logLines: string[] = [];
  const s = startSession({
    verbose: true,
    log: (l) => logLines.push(l),
    onCommandEnd: (r) => records.push(r),
    ...opts,
  });
  const env: Record<string, string> = {
    PATH: `${proxyBinDir}:/usr/local/bin:/usr/bin:/bin`,
    HOME: opts.home,
    LANG: 'C.UTF-8',
    ...s.agentEnv,
  };
  return Object.assign(s, { env, records, logLines });
}
