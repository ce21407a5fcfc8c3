#!/usr/bin/env bash
# Run a command (pytest, the demo) inside a private network, mount and PID namespace that
# holds a real node: the harness's bridge, veths, iptables rules, sysctls and tmpfs mounts
# live and die with it, and the machine's own network, sysctls and /var are never touched.
# When the command ends, the namespace's init exits and the kernel kills everything left in
# it (containerd's shims, containers, servers): everything stops by itself.
#
# Inside: lo up; a veth pair with the node address (TEST-NET-2, 198.51.100.10/24, never routed
# anywhere) and an on-link default route (kubelet refuses a loopback node IP); tmpfs over the
# fixed paths kubelet, containerd and CNI write; and small files bind-mounted over the three
# machine-wide sysctls kubelet insists on setting.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# SIGTERM/SIGINT (a CI time-out, ^C) reach the command: unshare ignores them while it waits,
# and the namespace's init (this script, inside) only gets the signals it traps.
run_forwarding() {  # run_forwarding <command...>: run it, pass TERM/INT on to it, its status
    "$@" &
    local child=$! rc=0
    trap 'kill -TERM "$child" 2>/dev/null' TERM
    trap 'kill -INT "$child" 2>/dev/null' INT
    while :; do
        wait "$child" && rc=0 || rc=$?
        kill -0 "$child" 2>/dev/null || return "$rc"
    done
}
if [[ "${LOOCV_E2E_ISOLATED:-}" != 1 ]]; then
    unshare --net --mount --pid --fork --kill-child --mount-proc --propagation private \
        -- env LOOCV_E2E_ISOLATED=1 "$here/isolated.sh" "$@" &
    ns=$!
    # LOOCV_E2E_PIDFILE: where to write the namespace's init pid, for
    # `nsenter --net=/proc/<pid>/ns/net kubectl ...` from another terminal (make demo).
    if [[ -n "${LOOCV_E2E_PIDFILE:-}" ]]; then
        for _ in $(seq 50); do
            init="$(cat "/proc/$ns/task/$ns/children" 2>/dev/null || true)"
            [[ -n "$init" ]] && { echo "${init%% *}" > "$LOOCV_E2E_PIDFILE"; break; }
            sleep 0.1
        done
    fi
    # The namespace's init is unshare's child; signal it, it forwards to the command.
    forward() { for pid in $(cat "/proc/$ns/task/$ns/children" 2>/dev/null); do kill "-$1" "$pid"; done; }
    trap 'forward TERM' TERM
    trap 'forward INT' INT
    while :; do
        wait "$ns" && rc=0 || rc=$?
        kill -0 "$ns" 2>/dev/null || exit "$rc"
    done
fi

export LOOCV_E2E_NODE_IP="${LOOCV_E2E_NODE_IP:-198.51.100.10}"
ip link set lo up
ip link add loocv0 type veth peer name loocv1
ip addr add "$LOOCV_E2E_NODE_IP/24" dev loocv0
ip link set loocv0 up
ip link set loocv1 up
ip route add default dev loocv0

for d in /var/lib/kubelet /var/log/pods /var/log/containers /var/lib/cni /run/containerd \
         /run/netns /var/run/netns /etc/cni/net.d /opt/cni/bin; do
    mkdir -p "$d" 2>/dev/null || true
    [[ -d "$d" ]] && mount -t tmpfs -o mode=0755 tmpfs "$d"
done
# kubelet's containerd integration finds the CNI plugins at the default path too.
for p in /usr/lib/cni/*; do ln -sf "$p" "/opt/cni/bin/$(basename "$p")"; done

sysctls="$(mktemp -d /tmp/loocv-e2e-sysctl.XXXXXX)"
mount -t tmpfs tmpfs "$sysctls"
bind_sysctl() {  # bind_sysctl <name> <value>: kubelet reads <value> and leaves it alone
    local path="/proc/sys/${1//.//}"
    echo "$2" > "$sysctls/$1"
    mount --bind "$sysctls/$1" "$path"
}
bind_sysctl vm.overcommit_memory 1
bind_sysctl vm.panic_on_oom 0
bind_sysctl kernel.panic 10
bind_sysctl kernel.panic_on_oops 1
bind_sysctl kernel.keys.root_maxkeys 1000000
bind_sysctl kernel.keys.root_maxbytes 25000000
run_forwarding "$@"
