// What `npm run check:macos` compiles, read from shim/darwin.cmake (the one list CMake builds on
// a Mac), where the Node headers are, and which Linux-only calls must not survive preprocessing
// for macOS (the table in the project's macOS notes).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** [{ name, kind: 'exe'|'dylib'|'addon', sources, output }] from add_executable / add_library. */
export function darwinTargets(cmakeFile) {
  const text = fs.readFileSync(cmakeFile, 'utf8').replace(/#.*$/gm, '');
  const out = [];
  for (const m of text.matchAll(/add_executable\(\s*([\w-]+)\s+([^)]*)\)/g)) {
    out.push({ name: m[1], kind: 'exe', sources: m[2].trim().split(/\s+/), output: m[1] });
  }
  for (const m of text.matchAll(/add_library\(\s*([\w-]+)\s+SHARED\s+([^)]*)\)/g)) {
    const addon = m[1] === 'nono_addon';
    out.push({ name: m[1], kind: addon ? 'addon' : 'dylib', sources: m[2].trim().split(/\s+/), output: addon ? 'nono_addon.node' : `lib${m[1]}.dylib` });
  }
  if (!out.some((t) => t.name === 'nono-interpose')) throw new Error(`${cmakeFile} builds no nono-interpose`);
  return out;
}

export function findNodeHeaders() {
  const candidates = [
    path.resolve(process.execPath, '..', '..', 'include', 'node'),
    '/usr/include/node',
    '/usr/local/include/node',
    path.join(os.homedir(), '.cmake-js', `node-${process.arch}`, process.version, 'include', 'node'),
  ];
  return candidates.find((d) => fs.existsSync(path.join(d, 'node_api.h')) && fs.existsSync(path.join(d, 'uv.h')));
}

/** Linux-only identifiers and strings (macOS equivalents in the notes: plain call + fcntl...). */
const LINUX_ONLY = [
  /\baccept4\b/, /\bpipe2\b/, /\bSOCK_CLOEXEC\b/, /\bSOCK_NONBLOCK\b/, /\bMSG_CMSG_CLOEXEC\b/,
  /\bSO_PEERCRED\b/, /\bSO_PASSCRED\b/, /\bSCM_CREDENTIALS\b/, /\bstruct ucred\b/, /\bprctl\b/,
  /\bPR_SET_PDEATHSIG\b/, /"\/proc\//, /\bepoll_\w+/, /\bsignalfd\b/, /\bpidfd\w*/, /\bSYS_\w+/,
  /\blandlock_\w+/, /\bseccomp\b/, /\bclose_range\b/, /\bexecvpe\b/, /\bexecveat\b/,
];

/**
 * Lines of the preprocessed output that come from nono's own files (not the SDK's headers) and
 * use a Linux-only call: what is left on the macOS side of the #ifs.
 */
export function linuxOnlyUses(preprocessed, ownDir) {
  const bad = [];
  let file = '';
  let line = 0;
  for (const text of preprocessed.split('\n')) {
    const marker = /^# (\d+) "([^"]*)"/.exec(text);
    if (marker) {
      line = Number(marker[1]);
      file = marker[2];
      continue;
    }
    if (file.startsWith(ownDir + path.sep)) {
      for (const re of LINUX_ONLY) {
        const m = re.exec(text);
        if (m) bad.push(`${path.basename(file)}:${line}: ${m[0]}`);
      }
    }
    line++;
  }
  return bad;
}
