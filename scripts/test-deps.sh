#!/usr/bin/env bash
# What the tests need beyond the runtime: Debian's prometheus (the
# metric-analysis tests run a real one, and its promtool), Debian's
# chromium (the web UI's tests drive a real browser) and Debian's haproxy
# (the HAProxy data plane's tests run a real one). Installed with
# apt-get when missing and run as root; otherwise says what to install.
set -euo pipefail
log() { printf 'test-deps: %s\n' "$*" >&2; }
missing=()
{ command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; } || missing+=(prometheus)
[ -x "${CUTOVER_CHROMIUM:-/usr/bin/chromium}" ] || missing+=(chromium)
{ command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ]; } || missing+=(haproxy)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  log "installing Debian's ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
else
  log "${missing[*]} not installed and this is not root: install Debian's packages (sudo apt-get install ${missing[*]}), or point CUTOVER_CHROMIUM at a Chromium"
  exit 1
fi
