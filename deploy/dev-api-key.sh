#!/usr/bin/env bash
# `make run` / `make cluster`: the development API key of a data folder, printed on stdout. Made on first use (24
# random bytes, URL-safe base64, mode 0600) and kept there, so the key printed by the banner stays the same across
# restarts of one data folder. Never a fixed, public key: a web page that reaches the gateway (DNS rebinding, a
# cross-site request) cannot know it. The gateway hides its data folder from puruto commands.
set -euo pipefail
dir="${1:?usage: dev-api-key.sh DATA_DIR}"
file="$dir/dev-api-key"
if [ ! -s "$file" ]; then
  mkdir -p "$dir"
  tmp="$(mktemp "$dir/.dev-api-key.XXXXXX")"
  # Written aside and renamed: two starts at once never read a half-written key.
  head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' > "$tmp"
  chmod 600 "$tmp"
  mv -n "$tmp" "$file" 2>/dev/null || true
  rm -f "$tmp"
fi
cat "$file"
