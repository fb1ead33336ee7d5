// `nono profile ...`: list, show, validate, explain, compile, schema, groups. Read-only: nothing
// here starts a sandbox, so each works on any platform and outside a session.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, Option } from 'commander';
import { loadAddon } from '../native/addon.js';
import { packageRoot } from '../native/paths.js';
import { BUILTIN_PROFILES } from '../policy/builtin-profiles.js';
import { OPERATIONS, explainLandlock, type Operation } from '../policy/explain-landlock.js';
import { builtinGroups } from '../policy/groups.js';
import { AGENT_SCOPES, COMMAND_SCOPES, compileLandlock } from '../policy/landlock-compiler.js';
import { describeRights } from '../policy/landlock-rights.js';
import { profileJsonSchema } from '../policy/profile-schema.js';
import { resolveProfile, userProfileDir } from '../policy/resolve-profile.js';
import type { ResolvedPolicy } from '../policy/resolved-policy.js';
import { compileSeatbelt } from '../policy/seatbelt-compiler.js';
import { decide } from '../policy/sbpl-eval.js';
import { explainHost } from '../policy/explain-host.js';
import { hostPort } from '../policy/host-pattern.js';
import { PolicyError } from '../policy/resolved-policy.js';

const out = (s: string): void => {
  process.stdout.write(s.endsWith("\n") ? s : `${s}\n`);
};

/** Outside a session there is no private temp dir yet: $TMPDIR stands for the system one. */
function resolveHere(ref: string, platform?: 'linux' | 'darwin'): ResolvedPolicy {
  return resolveProfile(ref, {
    home: os.homedir(),
    workdir: process.cwd(),
    tmpdir: os.tmpdir(),
    runtimeDirs: [packageRoot],
    platform,
  });
}

function landlockAbi(): number {
  try {
    return loadAddon().landlockAbi();
  } catch {
    return 0;
  }
}

function describePolicy(p: ResolvedPolicy): string {
  const lines = [`profile ${p.name}`, `  extends: ${p.chain.join(' <- ')}`, '  grants (commands):'];
  for (const g of p.grants) lines.push(`    ${g.access.padEnd(9)} ${g.kind.padEnd(4)} ${g.path}    [${g.source}]`);
  lines.push('  denied:');
  for (const d of p.denies) lines.push(`    ${d.access === 'all' ? 'no access' : 'no write '} ${d.path}    [${d.source}]`);
  lines.push(`  devices: ${p.devices.join(' ')}`);
  const net = (n: ResolvedPolicy['network']) =>
    n.blockTcp ? `TCP blocked${n.tcpConnect.length ? `, connect allowed to ${n.tcpConnect.join(',')}` : ''}${n.tcpBind.length ? `, bind allowed on ${n.tcpBind.join(',')}` : ''}` : 'TCP open';
  lines.push(`  network (commands): ${net(p.network)}${p.network.blockTcp ? "; hosts through nono's proxy:" : ''}`);
  if (p.network.blockTcp) {
    for (const d of p.network.domains) lines.push(`    allow     ${d.pattern}    [${d.source}]`);
    for (const d of p.network.denyDomains) lines.push(`    deny      ${d.pattern}    [${d.source}]`);
    lines.push('    (any other host: a question at the terminal, refused without one)');
  }
  if (p.scrubEnv.length) lines.push(`  environment scrubbed: ${p.scrubEnv.join(' ')}`);
  lines.push('  agent, in addition:');
  for (const g of p.agent.grants) lines.push(`    ${g.access.padEnd(9)} ${g.kind.padEnd(4)} ${g.path}    [${g.source}]`);
  lines.push(`  network (agent): ${net(p.agent.network)}`);
  return lines.join('\n');
}

export function profileCommand(): Command {
  const cmd = new Command('profile').description('inspect policy profiles: list, show, validate, explain, compile, schema, groups');

  cmd
    .command('list')
    .description('built-in profiles and your profiles (~/.config/nono/profiles/NAME.json)')
    .action(() => {
      for (const [name, p] of Object.entries(BUILTIN_PROFILES)) out(`${name.padEnd(14)} built-in   ${p.description ?? ''}`);
      const dir = userProfileDir();
      for (const f of fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort() : []) {
        out(`${path.basename(f, '.json').padEnd(14)} ${path.join(dir, f)}`);
      }
    });

  cmd
    .command('show')
    .description('what a profile resolves to here: grants, denials, network, agent additions')
    .argument('<profile>', 'a profile name or file')
    .option('--json', 'print the resolved policy as JSON')
    .action((ref: string, o: { json?: boolean }) => {
      const p = resolveHere(ref);
      out(o.json ? JSON.stringify(p, null, 2) : describePolicy(p));
    });

  cmd
    .command('validate')
    .description('check a profile file (syntax, fields, path variables, extends)')
    .argument('<file>', 'the profile file')
    .action((file: string) => {
      const p = resolveHere(file.includes('/') || file.endsWith('.json') ? file : `./${file}`);
      out(`${file}: valid (${p.chain.join(' <- ')})`);
    });

  cmd
    .command('explain')
    .description('is PATH allowed for an operation (or HOST reachable, with --host), and which rule decides it')
    .argument('[path]', 'the path to ask about')
    .option('--host <host[:port]>', 'ask about a host commands would reach through the session proxy instead of a path')
    .option('-p, --profile <name|file>', 'the profile', 'default')
    .addOption(new Option('--op <operation>', 'the operation').choices([...OPERATIONS]).default('read'))
    .addOption(new Option('--for <who>', 'a command, or the agent process itself').choices(['command', 'agent']).default('command'))
    .addOption(new Option('--platform <p>', 'which compiler to ask').choices(['linux', 'darwin']).default(process.platform === 'darwin' ? 'darwin' : 'linux'))
    .option('--json', 'print the answer as JSON')
    .action((p: string | undefined, o: { profile: string; op: Operation; for: 'command' | 'agent'; platform: string; json?: boolean; host?: string }) => {
      const policy = resolveHere(o.profile, o.platform as 'linux' | 'darwin');
      if (o.host !== undefined) {
        if (p !== undefined) throw new PolicyError('explain: give a path or --host, not both');
        if (o.for === 'agent') throw new PolicyError('explain --host: the agent is not proxied (its network is all or nothing: agent.network.block)');
        const a = explainHost(policy.network, o.host);
        if (o.json) return out(JSON.stringify({ ...a, profile: policy.name }, null, 2));
        out(`${hostPort(a.host, a.port)}: ${a.verdict.toUpperCase()} (commands, profile ${policy.name})`);
        out(`  decided by: ${a.decidedBy}`);
        for (const n of a.notes) out(`  note: ${n}`);
        return;
      }
      if (p === undefined) throw new PolicyError('explain: give a path, or --host HOST');
      const target = path.resolve(p);
      let answer: { allowed: boolean; decidedBy: string; notes: string[] };
      if (o.platform === 'darwin') {
        const { rules } = compileSeatbelt(policy, { tag: 'nono-explain', target: o.for });
        const op = ({ read: 'file-read-data', list: 'file-read-data', write: 'file-write-data', execute: 'process-exec', create: 'file-write-create', delete: 'file-write-unlink', rename: 'file-write-unlink' } as const)[o.op];
        const d = decide(rules, op, target);
        answer = { allowed: d.allowed, decidedBy: d.rule === 'default' ? '(deny default)' : `${d.rule.source} [${d.rule.id}]`, notes: ['Seatbelt: last matching rule wins'] };
      } else {
        const abi = landlockAbi() || 7;
        const c = compileLandlock(policy, { abi, scoped: o.for === 'agent' ? AGENT_SCOPES : COMMAND_SCOPES, target: o.for });
        answer = explainLandlock(c, target, o.op);
      }
      if (o.json) {
        out(JSON.stringify({ path: target, operation: o.op, platform: o.platform, for: o.for, ...answer }, null, 2));
        return;
      }
      out(`${target}: ${o.op} -> ${answer.allowed ? 'ALLOWED' : 'DENIED'} (${o.platform === 'darwin' ? 'Seatbelt' : 'Landlock'}, ${o.for}, profile ${policy.name})`);
      out(`  decided by: ${answer.decidedBy}`);
      for (const n of answer.notes) out(`  note: ${n}`);
    });

  cmd
    .command('compile')
    .description('print exactly what a compiler emits: Landlock rules as JSON, or the SBPL text')
    .argument('<profile>', 'a profile name or file')
    .addOption(new Option('--target <t>', 'the compiler').choices(['landlock', 'seatbelt']).makeOptionMandatory())
    .addOption(new Option('--for <who>', 'a command, or the agent process itself').choices(['command', 'agent']).default('command'))
    .option('--proxy-port <port>', "as in a session whose commands go through nono's proxy on this loopback port")
    .action((ref: string, o: { target: string; for: 'command' | 'agent'; proxyPort?: string }) => {
      // SBPL is compiled with macOS's group contents, wherever it is printed.
      const resolved = resolveHere(ref, o.target === 'seatbelt' ? 'darwin' : 'linux');
      let policy = resolved;
      if (o.proxyPort !== undefined) {
        const port = Number(o.proxyPort);
        if (!/^\d+$/.test(o.proxyPort) || port < 1 || port > 65535) throw new PolicyError(`--proxy-port ${o.proxyPort}: not a TCP port (1-65535)`);
        if (!resolved.network.blockTcp) throw new PolicyError('--proxy-port: this profile leaves TCP open, so its commands are not proxied');
        policy = { ...resolved, network: { ...resolved.network, proxyPort: port } };
      }
      if (o.target === 'seatbelt') {
        out(compileSeatbelt(policy, { tag: 'nono', target: o.for }).sbpl);
        return;
      }
      const abi = landlockAbi() || 7;
      const c = compileLandlock(policy, { abi, scoped: o.for === 'agent' ? AGENT_SCOPES : COMMAND_SCOPES, target: o.for });
      out(
        JSON.stringify(
          {
            abi: c.abi,
            handledFs: c.handledFs,
            handledNet: c.handledNet,
            scoped: c.scoped,
            rules: c.rules.map((r) => ({ ...r, access: describeRights(r.rights) })),
            tcpPorts: c.tcpPorts,
            connectGuard: c.connectGuard,
            expanded: c.expansions,
            warnings: c.warnings,
          },
          null,
          2,
        ),
      );
    });

  cmd
    .command('schema')
    .description('the JSON Schema of profile files, for editors')
    .action(() => out(JSON.stringify(profileJsonSchema(), null, 2)));

  cmd
    .command('groups')
    .description('the built-in policy groups and what they contain')
    .action(() => {
      for (const [name, g] of Object.entries(builtinGroups())) {
        out(`${name}: ${g.description}`);
        for (const [k, v] of Object.entries(g.filesystem)) if (v?.length) out(`  ${k}: ${v.join(' ')}`);
        if (g.devices) out(`  devices: ${g.devices.join(' ')}`);
        if (g.allowDomains) out(`  allow_domains: ${g.allowDomains.join(' ')}`);
      }
    });
  return cmd;
}
