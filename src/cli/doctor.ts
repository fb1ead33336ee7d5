// `nono doctor [--agent NAME|PATH] [--profile P] [--shell-prefix] [--json]`: before relying on nono,
// learn whether it works on this machine and which of its routes will carry a given agent's
// shell commands. The work is in src/doctor/; this file only parses options and prints.
//
// Exit status: 0 when every route the user needs works, 1 when protection is reduced (a warning,
// or an agent some of whose commands no route reaches), 2 when nono cannot run (a failed check).
//
// --json prints one object; this shape is stable (fields may be added, none removed or retyped):
//
// {
//   "ok": boolean,                       // exitCode === 0
//   "exitCode": 0 | 1 | 2,
//   "checks": [                          // in this order: platform, sandbox-backend, native-addon,
//     {                                  //   interposer, exec-helper, proxy-entries, round-trip,
//       "name": string,                  //   preload-handshake, profile
//       "status": "ok" | "warn" | "fail",
//       "detail": string,
//       "fix": string | null             // one line; null when ok
//     }
//   ],
//   "agent": {                           // only with --agent
//     "input": string,                   // as typed
//     "resolved": string | null,         // after PATH lookup and symlinks; null: not found
//     "format": "elf" | "macho" | "script" | "unknown" | "missing",   // of "resolved"
//     "chain": [string],                 // each hop from input to executable, in words
//     "executable": string | null,       // what starts the shells: the binary itself, a script's
//                                        //   interpreter, or the native binary an npm launcher starts
//     "description": string,
//     "known": "claude-code" | "gemini-cli" | "codex" | null,
//     "singleFile": "bun" | "node-sea" | null,   // a JavaScript program packed into its runtime
//     "linkage": "dynamic" | "static" | "static-pie" | null,   // ELF only
//     "arch": [string],                  // ELF machine, or each Mach-O slice ("arm64", "x86_64")
//     "runsHere": boolean | null,        // false: built for another OS/CPU (exit 1); null: not read
//     "signature": [                     // Mach-O: one per slice; [] for ELF
//       { "arch": string, "signed": boolean,
//         "flags": [string],             // "CS_ADHOC", "CS_RUNTIME", "CS_RESTRICT", "CS_LINKER_SIGNED", ...
//         "entitlements": { [key: string]: boolean } }
//     ],
//     "preload": "loads" | "stripped" | "ignored" | "unknown",
//     "reason": string,
//     "routes": [                        // preload, shell-proxy, path-proxy, shell-prefix
//       { "route": "preload" | "shell-proxy" | "path-proxy" | "shell-prefix",
//         "works": boolean | null,       // null: depends on how an unknown agent picks its shell
//         "why": string }
//     ],
//     "protection": "per-command" | "partial" | "agent-sandbox-only" | "unknown",
//     "summary": string,
//     "command": string                  // the command line to use, e.g. "nono run --profile claude-code -- claude"
//   }
// }
import { Command } from 'commander';
import type { Check } from '../doctor/checks.js';
import { runDoctor, type AgentReport, type DoctorReport } from '../doctor/report.js';

const MARK: Record<Check['status'], string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' };

function routeWord(works: boolean | null): string {
  return works === true ? 'yes' : works === false ? 'no ' : '?  ';
}

function formatAgent(a: AgentReport): string[] {
  const lines = [``, `agent ${a.input}`, `  ${a.description}`];
  for (const step of a.chain) lines.push(`    ${step}`);
  if (a.executable) {
    const facts = [a.format === 'missing' ? '' : a.executable, a.arch.join(' + '), a.linkage ?? ''].filter(Boolean);
    lines.push(`  executable  ${facts.join(', ')}`);
  }
  for (const s of a.signature) {
    const ents = Object.entries(s.entitlements).filter(([, v]) => v).map(([k]) => k);
    lines.push(
      `  signature   ${s.arch}: ${s.signed ? s.flags.join(' ') || 'no flags' : 'unsigned'}${ents.length ? `; entitlements: ${ents.join(', ')}` : ''}`,
    );
  }
  lines.push(`  preload     ${a.preload}: ${a.reason}`);
  if (a.routes.length) {
    lines.push('  routes');
    for (const r of a.routes) lines.push(`    ${routeWord(r.works)} ${r.route.padEnd(13)} ${r.why}`);
  }
  lines.push(`  verdict     ${a.summary}`);
  lines.push(`  use         ${a.command}`);
  return lines;
}

export function formatReport(report: DoctorReport): string {
  const width = Math.max(...report.checks.map((c) => c.name.length));
  const lines = ['nono doctor'];
  for (const c of report.checks) {
    lines.push(`  ${MARK[c.status]}  ${c.name.padEnd(width)}  ${c.detail}`);
    if (c.fix) lines.push(`  ${' '.repeat(4)}  ${' '.repeat(width)}  fix: ${c.fix}`);
  }
  if (report.agent) lines.push(...formatAgent(report.agent));
  const verdict =
    report.exitCode === 0 ? 'everything needed works' : report.exitCode === 1 ? 'nono runs, with reduced protection' : 'nono cannot run here';
  lines.push('', `result: ${verdict} (exit ${report.exitCode})`);
  return `${lines.join('\n')}\n`;
}

export function doctorCommand(): Command {
  return new Command('doctor')
    .description('check that nono works here, and which of its routes will carry an agent\'s shell commands')
    .option('-a, --agent <name|path>', 'also read this agent (as you would type it) and say which routes reach its commands')
    .option('-p, --profile <name|file>', 'the profile to validate (default: the agent\'s built-in profile, else "default")')
    .option('--shell-prefix', 'plan for `nono run --shell-prefix` (CLAUDE_CODE_SHELL_PREFIX; default on macOS)')
    .option('--json', 'print one JSON object (shape: see src/cli/doctor.ts)')
    .addHelpText(
      'after',
      `
Exit status: 0 every route you need works; 1 nono runs with reduced protection; 2 nono cannot run.

Examples:
  nono doctor
  nono doctor --agent claude
  nono doctor --agent ./node_modules/.bin/gemini --json`,
    )
    .action(async (o: { agent?: string; profile?: string; shellPrefix?: boolean; json?: boolean }) => {
      const report = await runDoctor({ agent: o.agent, profile: o.profile, shellPrefix: o.shellPrefix });
      process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
      process.exitCode = report.exitCode;
    });
}
