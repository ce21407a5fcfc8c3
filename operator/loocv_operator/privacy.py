"""Sample ids that leave the process are HMAC-hashed when the manifest asks for it.

Clinical and financial ids must not reach status, metrics, logs or reports. A keyed hash (not
a bare SHA) keeps them unguessable from a list of candidate ids; the salt comes from the
environment (a Secret in a pod) and never from the manifest.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from .errors import InvalidInput
from .spec import PrivacySpec

SALT_ENV = "LOOCV_ID_SALT"
HASH_HEX_CHARS = 16


class IdHasher:
    """Maps a raw sample id to what may be shown: itself, or its keyed hash."""

    def __init__(self, salt: bytes | None) -> None:
        self.salt = salt

    def fingerprint(self) -> str:
        """Tells salts apart without revealing them: results hashed with another salt carry
        other ids, so they are stored under another key."""
        if self.salt is None:
            return "plain"
        return hmac.new(self.salt, b"loocv-salt-fingerprint", hashlib.sha256).hexdigest()[:16]

    def __call__(self, sample_id: str) -> str:
        if self.salt is None:
            return sample_id
        digest = hmac.new(self.salt, sample_id.encode(), hashlib.sha256).hexdigest()
        return digest[:HASH_HEX_CHARS]


def hasher_for(privacy: PrivacySpec) -> IdHasher:
    if not privacy.hash_sample_ids:
        return IdHasher(None)
    salt = os.environ.get(SALT_ENV, "")
    if not salt:
        raise InvalidInput(
            "spec.privacy.hashSampleIds",
            f"hashing sample ids needs a salt in the environment variable {SALT_ENV} "
            "(from spec.privacy.saltSecretRef on a cluster)",
        )
    return IdHasher(salt.encode())
