#!/usr/bin/env bash
# What the tests need beyond the runtime: Debian's prometheus (the
# metric-analysis tests run a real one, and its promtool). Installed with
# apt-get when missing and run as root; otherwise says what to install.
set -euo pipefail
log() { printf 'test-deps: %s\n' "$*" >&2; }
if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  log "installing Debian's prometheus"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends prometheus >&2
else
  log "prometheus is not installed and this is not root: install Debian's prometheus package (sudo apt-get install prometheus)"
  exit 1
fi
