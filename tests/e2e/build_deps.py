"""Build what the e2e tier runs, before it enters its private namespaces (which have no
network, so the Go module proxy is out of reach in there): the control plane, kubelet,
kube-proxy and versitygw (cluster/binaries.py), Kueue (cluster/kueue.py) and helm
(tests/chart/helmbin.py). Each is cached under ~/.cache/loocv-operator and skipped when
present, so on a warm machine this takes a second. `make e2e-deps`; `--s3-only` builds only
the S3 server (what `make images-test` needs)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cluster import ensure_binaries
from cluster.kueue import kueue_binary

from tests.chart.helmbin import ensure_helm


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--s3-only", action="store_true", help="only the S3 server")
    args = parser.parse_args()
    steps = [("S3 server", lambda: ensure_binaries(s3_only=True))]
    if not args.s3_only:
        steps += [
            ("control plane, kubelet, kube-proxy", ensure_binaries),
            ("Kueue", kueue_binary),
            ("helm", ensure_helm),
        ]
    for what, build in steps:
        started = time.monotonic()
        build()
        print(f"[e2e-deps] {what}: ready in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
