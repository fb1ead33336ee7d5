#!/usr/bin/env bash
# Installs the real agents the end-to-end tests drive (test/agents/package.json) into
# test/agents/node_modules, apart from the root package's dependencies. Idempotent: when both
# pinned versions are already there, it does nothing (no network), so `npm run test:agents`
# can be run repeatedly, and offline once installed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# The version package.json pins for a package, and the version installed (empty if none).
pinned() { node -e 'console.log(require(process.argv[1]).dependencies[process.argv[2]])' "$here/package.json" "$1"; }
installed() {
  local f="$here/node_modules/$1/package.json"
  if [ -f "$f" ]; then node -e 'console.log(require(process.argv[1]).version)' "$f"; fi
}
# Claude Code's bin/claude.exe is a placeholder until its postinstall script puts the platform's
# native binary there: an interrupted install, or one run with install scripts disabled, leaves
# the placeholder.
claude_ready() {
  local exe="$here/node_modules/@anthropic-ai/claude-code/bin/claude.exe"
  # The native binary is over 100 MB; the placeholder is a few bytes.
  [ -x "$exe" ] && [ "$(wc -c < "$exe")" -gt 1000000 ]
}

complete() {
  for pkg in @anthropic-ai/claude-code @google/gemini-cli; do
    [ "$(installed "$pkg")" = "$(pinned "$pkg")" ] || return 1
  done
  [ -x "$here/node_modules/.bin/gemini" ] && claude_ready
}

if complete; then
  echo "test/agents: agents already installed"
  exit 0
fi
npm install --prefix "$here" --no-audit --no-fund
if ! complete; then
  echo "test/agents: the install is incomplete (Claude Code's postinstall must run: are npm install scripts disabled?)" >&2
  exit 1
fi
