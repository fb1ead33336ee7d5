// Where the built native parts and the proxy entries live, relative to this package. Computed
// from this file's location so that a clone works from any directory (src/ under vitest, dist/
// once compiled: both sit one level below the package root).
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const nativeDir = path.join(packageRoot, 'native');
export const proxyBinDir = path.join(packageRoot, 'proxy-bin');
/** The entries put first on PATH: the same nono-shell, at a path that tells the supervisor the
 * agent found it on PATH (route path-proxy) rather than through $SHELL (proxy-bin/bash). */
export const proxyPathDir = path.join(proxyBinDir, 'path');

export const nativePaths = {
  addon: path.join(nativeDir, 'nono_addon.node'),
  client: path.join(nativeDir, 'nono-shell'),
  execHelper: path.join(nativeDir, 'nono-landlock-exec'),
  interposer: path.join(nativeDir, 'libnono-interpose.so'),
  watchdog: path.join(nativeDir, 'nono-watchdog'),
};
