"""Write self-contained kubeconfig files (certificates embedded).

Why: tests, kubectl, the controller-manager and the scheduler each need a
kubeconfig naming the loopback API server and a client certificate. Embedding
the PEM data keeps each file usable on its own; JSON is valid kubeconfig YAML,
so no YAML library is needed.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from .certs import CertPair


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(path: Path, server: str, ca_cert: Path, user: str, client: CertPair) -> Path:
    """Write a kubeconfig for ``user`` authenticating with ``client`` to ``server``."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "loocv-e2e",
                "cluster": {"server": server, "certificate-authority-data": _b64(ca_cert)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(client.cert),
                    "client-key-data": _b64(client.key),
                },
            }
        ],
        "contexts": [{"name": "loocv-e2e", "context": {"cluster": "loocv-e2e", "user": user}}],
        "current-context": "loocv-e2e",
    }
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)
    return path
