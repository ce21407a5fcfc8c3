#!/usr/bin/env bash
# `make images`: the trainer and operator images (and the pod sandbox's pause image) without a
# Docker engine or a registry: podman with runc, FROM a base made from Debian packages.
#
#   1. base   mmdebstrap (python3, python3-venv, ca-certificates) -> podman import
#   2. pause  a static C program FROM scratch (the kubelet's sandbox image)
#   3. trainer_image/Dockerfile and operator/Dockerfile, --build-arg BASE_IMAGE=<the base>;
#      tagged with the names the chart and the Jobs use (ghcr.io/loocv-dev/...:<version>)
#   4. a docker-archive of the three for `ctr images import` (the e2e node)
#
# Podman's configuration and storage live under the cache (never /etc or /var):
# ${LOOCV_IMAGES_CACHE:-$HOME/.cache/loocv-operator/images}. Prints the archive path last.
# Knobs: LOOCV_IMAGES_FORCE_BASE=1 rebuilds the base; DEBIAN_MIRROR (deb.debian.org).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
# shellcheck source=env.sh
source "$here/env.sh"

log() { printf '[images %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
start=$(date +%s)
version="$(python3 -c 'import tomllib,sys; print(tomllib.load(open(sys.argv[1],"rb"))["project"]["version"])' "$repo/pyproject.toml")"
trainer="ghcr.io/loocv-dev/loocv-trainer:$version"
operator="ghcr.io/loocv-dev/loocv-operator:$version"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org}"

if [[ "${LOOCV_IMAGES_FORCE_BASE:-0}" == 1 ]] || ! podman image exists "$BASE_IMAGE"; then
    t=$(date +%s)
    log "base: mmdebstrap bookworm (python3, python3-venv, ca-certificates)"
    tar="$(mktemp "$LOOCV_IMAGES_CACHE/base.XXXXXX.tar")"
    mmdebstrap --quiet --variant=apt --include=python3,python3-venv,ca-certificates \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
        bookworm "$tar" \
        "deb $mirror/debian bookworm main" \
        "deb $mirror/debian bookworm-updates main" \
        "deb $mirror/debian-security bookworm-security main"
    podman import --quiet --change 'CMD ["/bin/bash"]' "$tar" "$BASE_IMAGE" >/dev/null
    rm -f "$tar"
    log "base $BASE_IMAGE in $(( $(date +%s) - t ))s"
else
    log "base $BASE_IMAGE cached"
fi

log "pause: static C program FROM scratch"
pause_ctx="$(mktemp -d)"
trap 'rm -rf "$pause_ctx"' EXIT
gcc -static -Os -s -o "$pause_ctx/pause" "$here/pause.c"
printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' > "$pause_ctx/Dockerfile"
podman build --quiet -t "$PAUSE_IMAGE" "$pause_ctx" >/dev/null

build() {  # build <dockerfile> <tag>
    local t; t=$(date +%s)
    log "building $2 from $1"
    # --network host: pip reaches PyPI from the build container. The host's CA bundle is
    # mounted for the build only (PIP_CERT), never copied into a layer.
    podman build --quiet --network host --layers \
        --volume /etc/ssl/certs/ca-certificates.crt:/run/host-ca.crt:ro \
        --build-arg PIP_CERT=/run/host-ca.crt \
        --build-arg BASE_IMAGE="$BASE_IMAGE" \
        -f "$repo/$1" -t "$2" "$repo" >/dev/null
    log "built $2 in $(( $(date +%s) - t ))s"
}
build trainer_image/Dockerfile "$trainer"
build operator/Dockerfile "$operator"

archive="$LOOCV_IMAGES_CACHE/images-$version.tar"
ids="$(podman image inspect --format '{{.Id}}' "$trainer" "$operator" "$PAUSE_IMAGE" | tr '\n' ' ')"
if [[ -f "$archive" && "$(cat "$archive.ids" 2>/dev/null)" == "$ids" ]]; then
    log "archive up to date: $archive"
else
    podman save --quiet --format docker-archive -m -o "$archive.tmp" "$trainer" "$operator" "$PAUSE_IMAGE"
    mv -f "$archive.tmp" "$archive"
    echo "$ids" > "$archive.ids"
fi
podman images --filter dangling=false --format '{{.Repository}}:{{.Tag}} {{.Size}}' | sed 's/^/[images] /' >&2
log "done in $(( $(date +%s) - start ))s"
echo "$archive"
