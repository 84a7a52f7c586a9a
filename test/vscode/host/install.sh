#!/usr/bin/env bash
# Installs code-server (pinned in test/vscode/host/package.json) into .cache/vscode-host/, outside
# the main package's dependency tree. Needs apt packages build-essential python3 pkg-config
# libkrb5-dev ripgrep (code-server builds node-pty and kerberos; see DEVELOPERS.md). Idempotent.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
dest="${LENS_VSCODE_HOST_DIR:-$repo/.cache/vscode-host}"
want="$(node -p "require('$here/package.json').dependencies['code-server']")"
bin="$dest/node_modules/code-server/out/node/entry.js"
if [ -f "$bin" ] && [ "$(node -p "require('$dest/node_modules/code-server/package.json').version")" = "$want" ]; then
  echo "code-server $want already installed in $dest"
  exit 0
fi
for c in rg make g++ python3 pkg-config; do
  command -v "$c" >/dev/null || { echo "install.sh: '$c' is missing (apt-get install build-essential python3 pkg-config libkrb5-dev ripgrep)" >&2; exit 1; }
done
mkdir -p "$dest"
cp "$here/package.json" "$dest/package.json"
[ -f "$here/package-lock.json" ] && cp "$here/package-lock.json" "$dest/package-lock.json"
# @vscode/ripgrep (pinned inside code-server) downloads rg unless its cache holds the archive:
# give it Debian's rg.
export TMPDIR="${TMPDIR:-/tmp}"
cache="$TMPDIR/vscode-ripgrep-cache-1.15.11"
mkdir -p "$cache"
tmp="$(mktemp -d)"
cp "$(command -v rg)" "$tmp/rg"
tar -czf "$cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$tmp" rg
rm -rf "$tmp"
export npm_config_yes=true npm_config_unsafe_perm=true npm_config_nodedir=/usr
# code-server writes under XDG dirs even while installing.
export XDG_CONFIG_HOME="$dest/.xdg-config" XDG_DATA_HOME="$dest/.xdg-data"
cd "$dest"
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
node "$bin" --version
