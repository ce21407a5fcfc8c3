#!/usr/bin/env bash
# Run a command (the images test) in a fresh network namespace holding only a loopback
# interface, with podman's configuration from env.sh: a container started there with
# `--network host` reaches what the test serves on 127.0.0.1 (the S3 store) and nothing else.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=env.sh
source "$here/env.sh"
exec unshare --net --fork --kill-child -- sh -c 'ip link set lo up && exec "$@"' sh "$@"
