#!/usr/bin/env node
// The `nono` command: commander wiring only; each subcommand lives in its own module.
import os from 'node:os';
import { Command, Option } from 'commander';
import { PolicyError } from '../policy/policy.js';
import { run, runHelpText } from './run.js';

const collect = (value: string, previous: string[]) => [...previous, value];

const program = new Command()
  .name('nono')
  .description('Run an AI coding agent so that every shell command it starts runs in its own kernel sandbox.')
  .showHelpAfterError('(run `nono --help` for usage)');

program
  .command('run')
  .description('run PROGRAM (an agent) with each of its shell commands sandboxed')
  .usage('[options] -- PROGRAM [ARGS...]')
  .option('--allow <path>', 'also let commands read and write PATH (repeatable)', collect, [])
  .option('--read <path>', 'also let commands read PATH, even inside a protected directory (repeatable)', collect, [])
  .option('--allow-net', 'let commands use TCP (blocked by default)', false)
  .option('--no-agent-sandbox', 'do not sandbox the agent process itself (prints a warning)')
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
      const outcome = await run(prog, args, {
        allow: opts.allow,
        read: opts.read,
        allowNet: opts.allowNet,
        agentSandbox: opts.agentSandbox,
        verbose: opts.verbose,
        oneShot: Boolean(opts.oneShot),
        shellPrefix: Boolean(opts.shellPrefix),
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

await program.parseAsync(process.argv);
