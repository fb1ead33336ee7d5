// Tests run the real programs: the compiled CLI (dist/) and the native parts (native/). Build
// the TypeScript once so the CLI under test is the source under test; the native parts come from
// `npm install` (cmake-js), and their absence is an error that says so.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export default function setup(): void {
  for (const f of ['nono-shell', 'nono-landlock-exec', 'libnono-interpose.so', 'nono_addon.node']) {
    if (!fs.existsSync(path.join(root, 'native', f))) {
      throw new Error(`native/${f} is missing: run \`npm install\` first (it builds shim/ with cmake-js)`);
    }
  }
  execFileSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], {
    cwd: root,
    stdio: 'inherit',
  });
}
