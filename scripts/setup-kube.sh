#!/usr/bin/env bash
# What the Kubernetes suite runs against, built from Go modules and cached
# outside the repo (keyed by version and source hash), as the pulumi CLI is:
#   - tools/kube: etcd, kube-apiserver, kube-controller-manager,
#     kube-scheduler and KWOK in one program;
#   - the Gateway API's CRD manifests (standard channel);
#   - the pulumi-resource-kubernetes provider plugin, from pulumi-kubernetes'
#     provider module, reporting the version @pulumi/kubernetes asks for.
# Writes dist/kube-toolchain.json for the tests. The first build takes a
# while on two cores; later runs take seconds.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod
cache=${CUTOVER_TOOLCHAIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cutover/toolchain}
log() { printf 'setup-kube: %s\n' "$*" >&2; }
# Where a module's source is, downloaded first if need be ($1: the folder whose go.mod pins it, or any folder with $2@version).
module_dir() { (cd "$1" && go mod download -json "$2" | node -e 'let s="";process.stdin.on("data",(d)=>s+=d).on("end",()=>console.log(JSON.parse(s).Dir))'); }

# 1. The control plane.
kube_hash=$(cat tools/kube/go.mod tools/kube/go.sum tools/kube/*.go | sha256sum | cut -c1-16)
kube_bin="$cache/kube-$kube_hash/kube"
if [ ! -x "$kube_bin" ]; then
  log "building the control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, KWOK) from Go modules (once; long on two cores)"
  start=$(date +%s)
  mkdir -p "$(dirname "$kube_bin")"
  (cd tools/kube && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$kube_bin.partial.$$" .)
  mv "$kube_bin.partial.$$" "$kube_bin"
  log "built the control plane in $(( $(date +%s) - start ))s"
fi

# 2. The Gateway API's CRDs, from its module.
gateway_version=v1.6.3
crds="$cache/gateway-api-$gateway_version/crds"
if [ ! -f "$crds/.complete" ]; then
  gateway_dir=$(module_dir "${TMPDIR:-/tmp}" "sigs.k8s.io/gateway-api@$gateway_version")
  mkdir -p "$crds"
  cp "$gateway_dir"/config/crd/standard/*.yaml "$crds/"
  chmod 0644 "$crds"/*.yaml
  touch "$crds/.complete"
fi

# 3. The provider plugin, at the version @pulumi/kubernetes asks for.
plugin_version=$(node -p 'require("@pulumi/kubernetes/package.json").pulumi.version')
provider_hash=$(cat tools/pulumi-kubernetes/go.mod tools/pulumi-kubernetes/go.sum tools/pulumi-kubernetes/main.go | sha256sum | cut -c1-16)
provider_bin="$cache/pulumi-kubernetes-v$plugin_version-$provider_hash/pulumi-resource-kubernetes"
if [ ! -x "$provider_bin" ]; then
  log "building the pulumi-resource-kubernetes plugin v$plugin_version from Go modules (once)"
  start=$(date +%s)
  provider_dir=$(module_dir tools/pulumi-kubernetes github.com/pulumi/pulumi-kubernetes/provider/v4)
  build=$(mktemp -d)
  trap 'rm -rf "$build"' EXIT
  cp tools/pulumi-kubernetes/go.mod tools/pulumi-kubernetes/go.sum tools/pulumi-kubernetes/main.go "$build/"
  # What the provider's own `go generate` does: the schema with its version, and the mapping, both compacted.
  node -e '
    const fs = require("fs");
    const [dir, out, version] = process.argv.slice(1);
    const schema = JSON.parse(fs.readFileSync(`${dir}/cmd/pulumi-resource-kubernetes/schema.json`, "utf8"));
    schema.version = version;
    fs.writeFileSync(`${out}/schema-embed.json`, JSON.stringify(schema));
    fs.writeFileSync(`${out}/terraform-mapping-embed.json`, JSON.stringify(JSON.parse(fs.readFileSync(`${dir}/cmd/pulumi-resource-kubernetes/terraform-mapping.json`, "utf8"))));
  ' "$provider_dir" "$build" "$plugin_version"
  mkdir -p "$(dirname "$provider_bin")"
  (cd "$build" && CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$plugin_version" \
    -o "$provider_bin.partial.$$" .)
  mv "$provider_bin.partial.$$" "$provider_bin"
  log "built pulumi-resource-kubernetes v$plugin_version in $(( $(date +%s) - start ))s"
fi

mkdir -p dist
node -e 'require("fs").writeFileSync("dist/kube-toolchain.json", JSON.stringify({kube: process.argv[1], crds: process.argv[2], provider: process.argv[3], providerVersion: process.argv[4]}, null, 2) + "\n")' \
  "$kube_bin" "$crds" "$provider_bin" "$plugin_version"
