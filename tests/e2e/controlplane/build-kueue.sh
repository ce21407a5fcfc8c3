#!/usr/bin/env bash
# Build the Kueue controller manager (sigs.k8s.io/kueue/cmd/kueue) for the e2e harness from the
# Go module proxy into ${LOOCV_E2E_CACHE:-$HOME/.cache/loocv-operator/e2e}/kueue/<version>/kueue.
# Only test_kueue.py needs it, so it is built on first use, not with the control plane.
# Idempotent (a cached binary is not rebuilt; LOOCV_E2E_FORCE=1 rebuilds). Prints the path last.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

cache_root="${LOOCV_E2E_CACHE:-$HOME/.cache/loocv-operator/e2e}"
out_dir="$cache_root/kueue/$KUEUE_VERSION"
jobs="${LOOCV_E2E_BUILD_JOBS:-2}"
mkdir -p "$out_dir"

export GOTOOLCHAIN=local
export GOFLAGS="${GOFLAGS:-} -mod=readonly -buildvcs=false"  # go.sum is committed
export CGO_ENABLED=0

log() { printf '[e2e-build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [[ -x "$out_dir/kueue" && "${LOOCV_E2E_FORCE:-0}" != 1 ]]; then
    log "kueue $KUEUE_VERSION cached in $out_dir"
    echo "$out_dir/kueue"
    exit 0
fi

cd "$here/kueue"
start=$(date +%s)
log "resolving modules for sigs.k8s.io/kueue $KUEUE_VERSION"
go mod download sigs.k8s.io/kueue
build_date="$(go list -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' sigs.k8s.io/kueue)"
pkg=sigs.k8s.io/kueue/pkg/version
ldflags="-s -w -X $pkg.GitVersion=$KUEUE_VERSION -X $pkg.GitCommit=module-sigs.k8s.io/kueue@$KUEUE_VERSION"
ldflags+=" -X $pkg.BuildDate=${build_date:-1970-01-01T00:00:00Z}"
tmp="$(mktemp -d "$out_dir/.build.XXXXXX")"
log "building kueue $KUEUE_VERSION (go build -p $jobs, nice -n 10; ~10 min cold on 2 cores)"
( while sleep 30; do log "still building kueue ($(( $(date +%s) - start ))s elapsed)"; done ) &
ticker=$!
trap 'kill $ticker 2>/dev/null || true' EXIT
nice -n 10 go build -p "$jobs" -trimpath -ldflags "$ldflags" -o "$tmp/kueue" sigs.k8s.io/kueue/cmd/kueue
mv -f "$tmp/kueue" "$out_dir/kueue"
rmdir "$tmp"
log "built kueue $KUEUE_VERSION in $(( $(date +%s) - start ))s: $out_dir/kueue"
echo "$out_dir/kueue"
