#!/usr/bin/env node
// `npm run check:macos`: cross-compiles every native part macOS builds (the targets of
// shim/darwin.cmake, read from that file) for aarch64-macos and x86_64-macos with a pinned Zig,
// warnings as errors; checks that none of those files keeps a Linux-only call on the macOS side of
// its #ifs; then reads the produced Mach-O with nono's own readers: every output must be a Mach-O
// of the right architecture and kind, and the interposer's __DATA,__interpose table must bind
// every hooked function (one Zig version drops the section silently at -O1 and above).
//
// Proves: the code compiles and links against Apple's SDK headers and libSystem stubs. Does not
// prove that Apple's toolchain accepts it, nor that anything runs on a Mac.
// The toolchain is a CI tool only (never a dependency of nono); if it cannot be fetched, this
// fails loudly.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fetchZig } from './check-macos/toolchain.mjs';
import { darwinTargets, findNodeHeaders, linuxOnlyUses } from './check-macos/targets.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ARCHES = [
  { target: 'aarch64-macos', arch: 'arm64' },
  { target: 'x86_64-macos', arch: 'x86_64' },
];
const FLAGS = ['-std=gnu11', '-O2', '-Wall', '-Wextra', '-Werror', '-D_GNU_SOURCE'];
const MH_EXECUTE = 2;
const MH_DYLIB = 6;

function fail(msg) {
  process.stderr.write(`\ncheck:macos FAILED: ${msg}\n`);
  process.exit(1);
}

async function loadReaders() {
  const dist = path.join(root, 'dist', 'doctor');
  if (!fs.existsSync(path.join(dist, 'macho-interpose.js'))) fail(`${dist} is missing: run \`npm run build\` first`);
  const macho = await import(path.join(dist, 'macho.js'));
  const interpose = await import(path.join(dist, 'macho-interpose.js'));
  return { readMacho: macho.readMacho, readInterposeTable: interpose.readInterposeTable, interposeProblems: interpose.interposeProblems };
}

async function main() {
  const readers = await loadReaders();
  let zig;
  try {
    zig = fetchZig(root, (l) => console.log(l));
  } catch (e) {
    fail(`the pinned Zig toolchain could not be fetched or verified: ${e.message}\n` +
      'Nothing was compiled for macOS; this check does not pass without it.');
  }
  const headers = findNodeHeaders();
  if (!headers) fail('no Node headers (node_api.h and uv.h) found next to this node or in /usr/include/node');
  const targets = darwinTargets(path.join(root, 'shim', 'darwin.cmake'));
  const hooks = [...fs.readFileSync(path.join(root, 'shim', 'interpose.c'), 'utf8').matchAll(/^NONO_INTERPOSE\((\w+)\);/gm)].map((m) => m[1]);
  if (hooks.length === 0) fail('shim/interpose.c lists no NONO_INTERPOSE(...) entries');
  const outDir = path.join(root, 'build', 'macos');
  console.log(`zig ${zig.version}; node headers ${headers}; ${targets.length} targets from shim/darwin.cmake`);

  for (const { target, arch } of ARCHES) {
    const dir = path.join(outDir, target);
    fs.mkdirSync(dir, { recursive: true });
    for (const t of targets) {
      const sources = t.sources.map((s) => path.join(root, 'shim', s));
      const out = path.join(dir, t.output);
      const args = ['cc', '-target', target, ...FLAGS, `-I${path.join(root, 'shim')}`];
      if (t.kind === 'addon') args.push(`-I${headers}`, '-fPIC', '-shared', '-undefined', 'dynamic_lookup');
      if (t.kind === 'dylib') args.push('-fPIC', '-shared', '-fvisibility=hidden');
      // Linux-only calls left on the macOS side of an #if (compiling alone would not catch a
      // "/proc/..." string or a syscall() that macOS also declares).
      for (const src of sources) {
        let pre;
        try {
          pre = execFileSync(zig.bin, [...args, '-E', src], { cwd: dir, encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'inherit'] });
        } catch {
          fail(`${path.relative(root, src)} does not preprocess for ${target}`);
        }
        const bad = linuxOnlyUses(pre, path.join(root, 'shim'));
        if (bad.length) fail(`${path.relative(root, src)} (${target}) keeps Linux-only calls:\n  ${bad.join('\n  ')}`);
      }
      try {
        execFileSync(zig.bin, [...args, ...sources, '-o', out], { stdio: ['ignore', 'inherit', 'inherit'], cwd: dir }); // its .o files land in cwd
      } catch {
        fail(`${t.name} does not compile for ${target} (warnings are errors)`);
      }
      const m = readers.readMacho(fs.readFileSync(out));
      if (m.kind !== 'macho' || m.universal || m.slices.length !== 1) fail(`${out} is not a thin Mach-O (${m.kind}${m.reason ? `: ${m.reason}` : ''})`);
      const s = m.slices[0];
      const wantType = t.kind === 'exe' ? MH_EXECUTE : MH_DYLIB;
      if (s.arch !== arch || s.filetype !== wantType) fail(`${out}: ${s.arch} filetype ${s.filetype}, expected ${arch} filetype ${wantType}`);
      let line = `${target}  ${t.output.padEnd(26)} Mach-O ${s.arch} ${t.kind === 'exe' ? 'executable' : 'dylib'}`;
      if (t.name === 'nono-interpose') {
        const table = readers.readInterposeTable(fs.readFileSync(out));
        if (!table.ok) fail(`${out}: ${table.reason}`);
        const problems = readers.interposeProblems(table, hooks);
        if (problems.length) fail(`${out}: the interpose table does not bind every hook:\n  ${problems.join('\n  ')}`);
        line += `, __interpose: ${table.pairs.length} pairs (${table.pairs.map((p) => p.original.slice(1)).join(', ')})`;
      }
      console.log(line);
    }
  }
  console.log(`\ncheck:macos passed: ${targets.length} targets x ${ARCHES.length} architectures compiled with -Werror; ` +
    `interposer binds all ${hooks.length} hooks on both. (Compiled and linked against SDK stubs only; not run on a Mac.)`);
}

main().catch((e) => fail(e.stack ?? String(e)));
