#!/usr/bin/env bash
# Build the real control-plane binaries for the e2e harness from the Go module proxy:
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, and the real node's
#   kubelet and kube-proxy (k8s.io/kubernetes, one module, one version)
#   etcd (go.etcd.io/etcd/server/v3)
#   versitygw (github.com/versity/versitygw): the S3 server of the e2e tier and the cluster bench
# into ${LOOCV_E2E_CACHE:-$HOME/.cache/loocv-operator/e2e}/<k8s-version>/bin/.
#
# Idempotent: a binary that is already in the cache is not rebuilt (a cache from before
# kubelet was added builds just the missing ones; Go's build cache makes the shared packages
# cheap), so only the first run on a machine pays the (long) build. Prints the bin dir last.
#
# Env knobs:
#   LOOCV_E2E_CACHE       cache root (default ~/.cache/loocv-operator/e2e)
#   LOOCV_E2E_BUILD_JOBS  go build -p (default 2; the build runs under nice -n 10)
#   LOOCV_E2E_FORCE=1     rebuild even if the binaries exist
#   LOOCV_E2E_BUILD_ONLY=versitygw  build only the S3 server (make images-test needs nothing else)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

cache_root="${LOOCV_E2E_CACHE:-$HOME/.cache/loocv-operator/e2e}"
bin_dir="$cache_root/$K8S_VERSION/bin"
jobs="${LOOCV_E2E_BUILD_JOBS:-2}"
mkdir -p "$bin_dir"

export GOTOOLCHAIN=local
# go.sum is committed: never let the build rewrite go.mod/go.sum.
export GOFLAGS="${GOFLAGS:-} -mod=readonly -buildvcs=false"
export CGO_ENABLED=0

log() { printf '[e2e-build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# The etcd binary is stored under its own version name so a bump of etcd
# alone triggers a rebuild; "etcd" is a symlink to it.
etcd_bin="etcd-$ETCD_VERSION"
k8s_bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy)

need_build() {
    [[ "${LOOCV_E2E_FORCE:-0}" == 1 ]] && return 0
    for b in "$@"; do [[ -x "$bin_dir/$b" ]] || return 0; done
    return 1
}

# Heartbeat so callers (pytest fixture, CI log) see the build is alive.
progress() {
    local what="$1" pid="$2" start="$3"
    while kill -0 "$pid" 2>/dev/null; do
        sleep 30
        kill -0 "$pid" 2>/dev/null && log "still building $what ($(( $(date +%s) - start ))s elapsed)"
    done
}

run_build() {  # run_build <label> <go build args...>
    local what="$1"; shift
    local start; start=$(date +%s)
    log "building $what (go build -p $jobs, nice -n 10)"
    nice -n 10 go build -p "$jobs" "$@" &
    local pid=$!
    progress "$what" "$pid" "$start" &
    local ppid=$!
    local rc=0
    wait "$pid" || rc=$?
    kill "$ppid" 2>/dev/null || true
    wait "$ppid" 2>/dev/null || true
    if [[ $rc -ne 0 ]]; then log "FAILED building $what (exit $rc)"; return $rc; fi
    log "built $what in $(( $(date +%s) - start ))s"
}

total_start=$(date +%s)

only="${LOOCV_E2E_BUILD_ONLY:-}"
missing=()
for b in "${k8s_bins[@]}"; do need_build "$b" && missing+=("$b"); done
if [[ -n "$only" ]]; then
    log "LOOCV_E2E_BUILD_ONLY=$only: only that is built"
elif (( ${#missing[@]} )); then
    (
        cd "$here/kubernetes"
        log "resolving modules for k8s.io/kubernetes $K8S_VERSION"
        go mod download k8s.io/kubernetes
        build_date="$(go list -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' k8s.io/kubernetes)"
        ver="${K8S_VERSION}"
        minor="${ver#v*.}"; minor="${minor%%.*}"
        major="${ver#v}"; major="${major%%.*}"
        ldflags="-s -w"
        for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
            ldflags+=" -X $pkg.gitVersion=$ver -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
            ldflags+=" -X $pkg.gitCommit=module-k8s.io/kubernetes@$ver -X $pkg.gitTreeState=clean"
            ldflags+=" -X $pkg.buildDate=${build_date:-1970-01-01T00:00:00Z}"
        done
        out="$(mktemp -d "$bin_dir/.k8s.XXXXXX")"
        run_build "${missing[*]} $K8S_VERSION" \
            -trimpath -ldflags "$ldflags" -o "$out/" \
            "${missing[@]/#/k8s.io/kubernetes/cmd/}"
        for b in "${missing[@]}"; do mv -f "$out/$b" "$bin_dir/$b"; done
        rmdir "$out"
    )
else
    log "kubernetes $K8S_VERSION binaries cached in $bin_dir"
fi

if [[ -n "$only" ]]; then
    :
elif need_build "$etcd_bin"; then
    (
        cd "$here/etcd"
        log "resolving modules for etcd $ETCD_VERSION"
        go mod download go.etcd.io/etcd/server/v3
        out="$(mktemp -d "$bin_dir/.etcd.XXXXXX")"
        run_build "etcd $ETCD_VERSION" \
            -trimpath -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=module-$ETCD_VERSION" \
            -o "$out/etcd" go.etcd.io/etcd/server/v3
        mv -f "$out/etcd" "$bin_dir/$etcd_bin"
        rmdir "$out"
    )
else
    log "etcd $ETCD_VERSION cached in $bin_dir"
fi
[[ -x "$bin_dir/$etcd_bin" ]] && ln -sfn "$etcd_bin" "$bin_dir/etcd"

# versitygw, the real S3 server (its own version in its name, like etcd): ~2 min cold.
vgw_bin="versitygw-$VERSITYGW_VERSION"
if need_build "$vgw_bin"; then
    (
        cd "$here/versitygw"
        log "resolving modules for versitygw $VERSITYGW_VERSION"
        go mod download github.com/versity/versitygw
        out="$(mktemp -d "$bin_dir/.vgw.XXXXXX")"
        run_build "versitygw $VERSITYGW_VERSION" \
            -trimpath -ldflags "-s -w -X main.Version=$VERSITYGW_VERSION" \
            -o "$out/versitygw" github.com/versity/versitygw/cmd/versitygw
        mv -f "$out/versitygw" "$bin_dir/$vgw_bin"
        rmdir "$out"
    )
else
    log "versitygw $VERSITYGW_VERSION cached in $bin_dir"
fi

log "done in $(( $(date +%s) - total_start ))s: $bin_dir"
echo "$bin_dir"
