"""What every part of the manifest model shares: the wire conventions (camelCase, no unknown
fields, strict types, as the API server) and the names' patterns."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

API_GROUP = "loocv.dev"
API_VERSION = "v1alpha1"
KIND = "LOOCVRun"
BUILTIN_DATASETS = ("iris", "wine", "breast_cancer", "digits", "diabetes")
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DOTTED_NAME = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$"
MAX_FOLDS_PER_JOB = 100_000
MAX_MANIFEST_BYTES = 1 << 20  # the API server refuses objects past ~1.5 MB anyway
MAX_MANIFEST_NODES = 100_000  # values after YAML aliases are expanded

LabelValue = int | str
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]  # numpy's RandomState takes no other seed


class SpecModel(BaseModel):
    """camelCase on the wire (like every Kubernetes API), snake_case in Python."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        strict=True,  # as the API server: "4" is not an int, "yes" not a bool
    )
