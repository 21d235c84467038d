#!/usr/bin/env bash
# HAProxy for `make cluster` and the tests that go through it: Debian's package, installed when missing.
set -euo pipefail
command -v haproxy >/dev/null 2>&1 && exit 0
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "haproxy is missing: install Debian's 'haproxy' package (apt-get install -y haproxy)" >&2
  exit 1
fi
echo "installing haproxy (Debian package)" >&2
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null
