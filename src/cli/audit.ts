// `nono audit [--session ID] [--json]`: what ran, under which policy, what was denied, asked,
// decided and granted — read from the audit log the supervisor writes (src/supervisor/audit-log.ts).
import fs from 'node:fs';
import { Command } from 'commander';
import { auditFile } from '../supervisor/audit-log.js';

interface Row {
  time: string;
  session: string;
  type: string;
  [k: string]: unknown;
}

function line(r: Row): string {
  const t = r.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  switch (r.type) {
    case 'session':
      return `${t} ${r.session} session in ${r.cwd} (profile ${r.profile}, policy ${r.policy}): ${(r.argv as string[]).join(' ')}`;
    case 'command': {
      const exit = r.exit as { code?: number; signal?: number };
      const how = exit.signal !== undefined ? `signal ${exit.signal}` : `exit ${exit.code}`;
      const runs = (r.attempts as number) > 1 ? `, ${r.attempts} runs` : '';
      return `${t} ${r.session} cmd ${r.seq} [${r.route}] ${JSON.stringify((r.argv as string[]).slice(-1)[0])} in ${r.cwd} -> ${how} (${r.durationMs} ms${runs}, policy ${r.policy})${r.killedBecause ? `, killed: ${r.killedBecause}` : ''}`;
    }
    case 'denial':
      return `${t} ${r.session} cmd ${r.seq} denied ${r.op} ${r.path ?? `port ${r.port ?? '*'}`} (${r.source}: ${JSON.stringify(r.evidence)})`;
    case 'prompt':
      return `${t} ${r.session} cmd ${r.seq} asked: ${(r.grants as string[]).join(', ')}`;
    case 'decision':
      return `${t} ${r.session} cmd ${r.seq} decision: ${r.choice}${r.cancelled ? ' (the agent stopped the command)' : ''}${r.savedTo ? ` saved to ${r.savedTo}: ${(r.changes as string[]).join('; ')}` : ''}`;
    case 'session-end':
      return `${t} ${r.session} session ended (agent exit ${r.code})`;
    default:
      return `${t} ${r.session} ${JSON.stringify(r)}`;
  }
}

export function auditCommand(): Command {
  return new Command('audit')
    .description('show the audit log: commands, denials, prompts, decisions and grants')
    .option('--session <id>', 'only this session (ids are printed by nono run --verbose and in the log)')
    .option('--json', 'print the records as JSON Lines')
    .option('--file <path>', 'read this log instead of $XDG_STATE_HOME/nono/audit.jsonl')
    .action((o: { session?: string; json?: boolean; file?: string }) => {
      const file = o.file ?? auditFile();
      if (!fs.existsSync(file)) {
        process.stdout.write(`no audit log yet (${file}): it is written by nono run\n`);
        return;
      }
      for (const text of fs.readFileSync(file, 'utf8').split('\n')) {
        if (!text) continue;
        let r: Row;
        try {
          r = JSON.parse(text) as Row;
        } catch {
          continue; // a torn last line from a crash: skip it, keep the rest
        }
        if (o.session && r.session !== o.session) continue;
        process.stdout.write(`${o.json ? JSON.stringify(r) : line(r)}\n`);
      }
    });
}
