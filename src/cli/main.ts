#!/usr/bin/env node
// The `nono` command: commander wiring only; each subcommand lives in its own module.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, Option } from 'commander';
import { packageRoot } from '../native/paths.js';
import { PolicyError } from '../policy/resolved-policy.js';
import { run, runHelpText } from './run.js';

// A reader that went away (`nono profile list | head`) ends nono quietly, with the status a shell
// gives a program killed by SIGPIPE (Node ignores that signal, so it would otherwise throw EPIPE).
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(141);
  throw e;
});

/** The version of the package this CLI belongs to, read from its package.json when it runs. */
function packageVersion(): string {
  const file = path.join(packageRoot, 'package.json');
  try {
    return String((JSON.parse(fs.readFileSync(file, 'utf8')) as { version?: unknown }).version ?? 'unknown');
  } catch (e) {
    return `unknown (cannot read ${file}: ${(e as Error).message})`;
  }
}

const collect = (value: string, previous: string[]) => [...previous, value];

const program = new Command()
  .name('nono')
  .description('Run an AI coding agent so that every shell command it starts runs in its own kernel sandbox.')
  .showHelpAfterError('(run `nono --help` for usage)')
  .version(packageVersion(), '-V, --version', "print nono's version and exit");

program
  .command('run')
  .description('run PROGRAM (an agent) with each of its shell commands sandboxed')
  .usage('[options] -- PROGRAM [ARGS...]')
  .option('-p, --profile <name|file>', "the policy profile (built-in, ~/.config/nono/profiles/NAME.json, or a file); default: the recognised agent's built-in profile, else default")
  .option('--allow <path>', 'also let commands read and write PATH (repeatable; may re-allow a path inside a protected one)', collect, [])
  .option('--read <path>', 'also let commands read PATH (repeatable)', collect, [])
  .option('--write <path>', 'also let commands write (not read) PATH (repeatable)', collect, [])
  .option('--allow-file <file>', 'also let commands read and write exactly FILE (repeatable)', collect, [])
  .option('--read-file <file>', 'also let commands read exactly FILE (repeatable)', collect, [])
  .option('--write-file <file>', 'also let commands write exactly FILE (repeatable)', collect, [])
  .option('--allow-net', 'let commands use all TCP directly, unproxied (the default profile sends them through its proxy)')
  .option('--block-net', 'block TCP for commands even if the profile allows it')
  .option('--allow-domain <host>', 'let commands reach HOST through the session proxy: a name, *.domain, an IP, optionally :PORT (repeatable)', collect, [])
  .option('--no-agent-sandbox', 'do not sandbox the agent process itself (prints a warning)')
  .addOption(
    new Option('--on-denial <mode>', 'when the sandbox denies a command: prompt (ask, then re-run with the grant) or deny (report only)')
      .choices(['prompt', 'deny'])
      .default('prompt'),
  )
  .option(
    '--live-approval',
    'require live approval (Linux, on by default where the kernel has it): a command the sandbox denies a file operation (open, create, delete, rename, link, truncate) waits while you are asked, and goes on without being re-run; says so when this kernel cannot',
  )
  .option('--no-live-approval', 'turn live approval off: a denied command fails, you are asked after it exits, and it is re-run with the grant')
  .option('-v, --verbose', 'log one line per command, and policy warnings, to stderr', false)
  .option('--json-events <file>', 'append one JSON line per event (session, interposer check, command, exit) to FILE')
  .option('--shell-prefix', "also route Claude Code through CLAUDE_CODE_SHELL_PREFIX (default on macOS)", process.platform === 'darwin')
  .addOption(new Option('--one-shot', 'used by nono-shell when typed outside a session').hideHelp())
  .argument('<program>', 'the program to run, after --')
  .argument('[args...]', 'its arguments')
  .addHelpText('after', runHelpText)
  .action(async (prog: string, args: string[], opts) => {
    if (!process.argv.includes('--')) {
      program.error('nono run: put -- before the program, e.g. `nono run -- claude`');
    }
    try {
      if (opts.allowNet && opts.blockNet) program.error('nono run: --allow-net and --block-net contradict each other');
      if (opts.allowNet && opts.allowDomain.length) {
        program.error('nono run: --allow-domain and --allow-net contradict each other: --allow-net opens all TCP without the proxy, so host lists would do nothing');
      }
      const outcome = await run(prog, args, {
        profile: opts.profile,
        cli: {
          allow: opts.allow,
          read: opts.read,
          write: opts.write,
          allowFile: opts.allowFile,
          readFile: opts.readFile,
          writeFile: opts.writeFile,
          allowNet: opts.allowNet ? true : opts.blockNet ? false : undefined,
          allowDomains: opts.allowDomain,
        },
        agentSandbox: opts.agentSandbox,
        verbose: opts.verbose,
        oneShot: Boolean(opts.oneShot),
        shellPrefix: Boolean(opts.shellPrefix),
        onDenial: opts.onDenial,
        liveApproval: opts.liveApproval,
        jsonEvents: opts.jsonEvents,
      });
      if (outcome.signal && os.constants.signals[outcome.signal]) {
        // Die the way PROGRAM died, so our caller sees the same thing.
        process.removeAllListeners(outcome.signal);
        process.kill(process.pid, outcome.signal);
      }
      process.exitCode = outcome.code;
    } catch (e) {
      const msg = e instanceof PolicyError ? e.message.replace(/^nono: /, '') : (e as Error).message;
      process.stderr.write(`nono: ${msg}\n`);
      process.exitCode = 126;
    }
  });

// `nono run` stays up for the whole session (it is the supervisor): it does not load the other
// subcommands' modules (doctor's binary readers, the profile tools), ~2 MB less RSS for its whole
// life (npm run bench, part 3). Every other invocation, `nono --help` included, registers them all.
if (process.argv[2] !== 'run') {
  program.addCommand((await import('./profile.js')).profileCommand());
  program.addCommand((await import('./doctor.js')).doctorCommand());
  program.addCommand((await import('./audit.js')).auditCommand());
}

try {
  await program.parseAsync(process.argv);
} catch (e) {
  // Policy and input errors are messages for the user, not stack traces.
  process.stderr.write(`nono: ${(e as Error).message}\n`);
  process.exitCode = 1;
}
