// Installs the fixture agent (test/fixtures/agent.mjs behind `#!/usr/bin/env node`) the ways real
// agents are installed outside the directories a sandbox reads: an npm prefix (bin/NAME is a
// symlink into lib/node_modules/PKG), or a Homebrew-on-Linux prefix where node itself and the
// agent each sit in a Cellar keg. Everything lives under `base`, which the caller removes.
import fs from 'node:fs';
import path from 'node:path';
import { fixtures } from './paths.js';

export interface InstalledAgent {
  /** Put first on PATH. */
  binDir: string;
  /** The command name, as a user types it. */
  name: string;
  /** The script the launcher symlink points to. */
  script: string;
  /** The install unit nono should grant (npm package root, or the agent's keg). */
  unit: string;
  /** Homebrew layout only: the node binary in its own keg, which must run the agent. */
  node?: string;
}

function writeScript(file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, '#!/usr/bin/env node\n' + fs.readFileSync(path.join(fixtures, 'agent.mjs'), 'utf8'), { mode: 0o755 });
}

/** npm install -g --prefix BASE/prefix: bin/fake-agent -> ../lib/node_modules/fake-agent/bin/agent.mjs */
export function installNpmAgent(base: string): InstalledAgent {
  const prefix = path.join(base, 'prefix');
  const unit = path.join(prefix, 'lib', 'node_modules', 'fake-agent');
  const script = path.join(unit, 'bin', 'agent.mjs');
  writeScript(script);
  fs.writeFileSync(path.join(unit, 'package.json'), JSON.stringify({ name: 'fake-agent', version: '1.0.0', bin: { 'fake-agent': 'bin/agent.mjs' } }));
  const binDir = path.join(prefix, 'bin');
  fs.mkdirSync(binDir, { recursive: true });
  fs.symlinkSync(path.relative(binDir, script), path.join(binDir, 'fake-agent'));
  return { binDir, name: 'fake-agent', script, unit };
}

/**
 * BASE/linuxbrew/.linuxbrew with bin/node -> ../Cellar/node/99.0.0/bin/node (this node, hard-linked
 * when it can be: a copy is ~100 MB) and bin/brew-agent -> ../Cellar/brew-agent/1.0/libexec/agent.mjs.
 */
export function installBrewAgent(base: string): InstalledAgent {
  const prefix = path.join(base, 'linuxbrew', '.linuxbrew');
  const binDir = path.join(prefix, 'bin');
  fs.mkdirSync(binDir, { recursive: true });
  const node = path.join(prefix, 'Cellar', 'node', '99.0.0', 'bin', 'node');
  fs.mkdirSync(path.dirname(node), { recursive: true });
  try {
    fs.linkSync(fs.realpathSync(process.execPath), node);
  } catch {
    fs.copyFileSync(fs.realpathSync(process.execPath), node);
    fs.chmodSync(node, 0o755);
  }
  fs.symlinkSync(path.relative(binDir, node), path.join(binDir, 'node'));
  const unit = path.join(prefix, 'Cellar', 'brew-agent', '1.0');
  const script = path.join(unit, 'libexec', 'agent.mjs');
  writeScript(script);
  fs.symlinkSync(path.relative(binDir, script), path.join(binDir, 'brew-agent'));
  return { binDir, name: 'brew-agent', script, unit, node };
}
