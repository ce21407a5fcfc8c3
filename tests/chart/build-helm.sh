#!/usr/bin/env bash
# Build the pinned Helm from the Go module proxy into a cache outside the repository, once.
#
#   tests/chart/build-helm.sh            # prints the path of the helm binary on its last line
#
# Cache: ${LOOCV_HELM_CACHE:-$HOME/.cache/loocv-operator/helm}/<version>/bin/helm
# Idempotent: an existing binary that reports the pinned version is kept.
# LOOCV_HELM_FORCE=1 rebuilds; LOOCV_HELM_BUILD_JOBS (default 2) bounds `go build -p`.
set -euo pipefail

HELM_VERSION="${LOOCV_HELM_VERSION:-v3.21.4}"
# Helm's own Makefile derives these from its k8s.io/client-go (v0.36.x -> 1.36): they set
# the Kubernetes version `helm template`/`lint` assume (.Capabilities.KubeVersion).
K8S_MAJOR=1
K8S_MINOR=36
CACHE="${LOOCV_HELM_CACHE:-$HOME/.cache/loocv-operator/helm}/${HELM_VERSION}"
BIN="${CACHE}/bin/helm"

log() { printf '[build-helm] %s\n' "$*" >&2; }

if [[ -x "$BIN" && "${LOOCV_HELM_FORCE:-0}" != "1" ]]; then
  if "$BIN" version --template '{{.Version}}' 2>/dev/null | grep -qx "$HELM_VERSION"; then
    log "cached: $BIN ($HELM_VERSION)"
    echo "$BIN"
    exit 0
  fi
  log "cached binary at $BIN does not report $HELM_VERSION: rebuilding"
fi

command -v go >/dev/null || { log "Go is needed to build Helm (https://go.dev/dl)"; exit 1; }
mkdir -p "${CACHE}/bin"
ldflags=(
  -s -w
  -X "helm.sh/helm/v3/internal/version.version=${HELM_VERSION}"
  -X "helm.sh/helm/v3/internal/version.metadata="
  -X "helm.sh/helm/v3/internal/version.gitTreeState=clean"
  -X "helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=${K8S_MAJOR}"
  -X "helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=${K8S_MINOR}"
  -X "helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=${K8S_MAJOR}"
  -X "helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=${K8S_MINOR}"
)
start=$(date +%s)
log "building helm ${HELM_VERSION} from the Go module proxy into ${CACHE} (a few minutes, once)"
# A temporary GOBIN, then an atomic rename: an interrupted build never leaves a half binary.
tmp="$(mktemp -d "${CACHE}/build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
log "downloading modules"
GOFLAGS=-mod=mod go mod download -x "helm.sh/helm/v3@${HELM_VERSION}" 2>&1 \
  | grep -E '^# get .*\.zip: 200' | sed 's/^/[build-helm]   /' >&2 || true
log "compiling (go build -p ${LOOCV_HELM_BUILD_JOBS:-2})"
CGO_ENABLED=0 GOBIN="$tmp" nice -n 10 go install -v -p "${LOOCV_HELM_BUILD_JOBS:-2}" -trimpath \
  -ldflags "${ldflags[*]}" "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}" 2>&1 \
  | awk '{ n++; if (n % 50 == 0) printf "[build-helm]   %d packages compiled (%s)\n", n, $0 > "/dev/stderr" }'
mv "$tmp/helm" "$BIN"
log "built $("$BIN" version --short) in $(( $(date +%s) - start )) s"
echo "$BIN"
