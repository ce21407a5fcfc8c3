"""The LOOCVRun CustomResourceDefinition, generated from the engine's manifest model.

One source of truth: ``openAPIV3Schema`` is derived from ``spec.LOOCVRunSpec`` (and the status
from ``status.LOOCVRunStatus``), so the CLI, the trainer and the API server accept the same
manifests. pydantic's JSON Schema is turned into a *structural* schema: ``$ref``s inlined,
``Optional`` collapsed, ``int | str`` as ``x-kubernetes-int-or-string``, free-form parameter
maps as ``x-kubernetes-preserve-unknown-fields``. What a model validator says in code is
restated as CEL rules (``x-kubernetes-validations``) carrying the model's messages, which the
API server enforces and a test evaluates against the model; immutability is CEL too.

``python -m loocv_operator.kube.crd`` prints the YAML that lives in ``crds/``.
"""

from __future__ import annotations

import copy
import re
import sys
from collections.abc import Mapping
from typing import Any

import yaml

from .. import spec as manifest
from ..spec import ExecutionSpec, GateSpec, LOOCVRunSpec
from .wire import LOOCVRunStatus

GROUP = manifest.API_GROUP
VERSION = manifest.API_VERSION
KIND = manifest.KIND
PLURAL = "loocvruns"
SINGULAR = "loocvrun"
SHORT_NAMES = ["loocv", "lr"]
CATEGORIES = ["ml", "loocv"]
NAME = f"{PLURAL}.{GROUP}"

# Spec fields that may change once a run exists (everything else is pinned by the plan).
MUTABLE_SPEC_FIELDS = ("suspend",)
# budget: raising it resumes a run it stopped (kube/usage.py), so it must be able to change.
MUTABLE_EXECUTION_FIELDS = ("maxConcurrentJobs", "budget")

# Model validators, restated as CEL rules with the model's own messages (keyed by the pydantic
# model's title), so kubectl names the field and says what is wrong in the same words as
# `loocv validate`. Fields the API server defaults (strategy.type, shuffle) may be absent
# when a client-side checker evaluates them, hence the has() guards.
_FILE_ONLY = ["target", "features", "idColumn", "groupColumn", "format"]
_IS_KFOLD = "(has(self.type) && self.type == 'KFold')"
CROSS_FIELD_RULES: dict[str, list[dict[str, str]]] = {
    "DatasetSpec": [
        {
            "rule": "has(self.builtin) != has(self.uri)",
            "message": "give exactly one of 'builtin' or 'uri'",
        },
        {
            "rule": "!has(self.builtin) || !("
            + " || ".join(f"has(self.{f})" for f in _FILE_ONLY)
            + ")",
            "message": "'target', 'features', 'idColumn', 'groupColumn' and 'format' apply "
            "to 'uri' only",
        },
    ],
    "SubsetSpec": [
        {
            "rule": "(has(self.indices) ? 1 : 0) + (has(self.labels) ? 1 : 0)"
            " + (has(self.stratifiedSample) ? 1 : 0) == 1",
            "message": "give exactly one of 'indices', 'labels' or 'stratifiedSample'",
        }
    ],
    "BaselineSpec": [
        {
            "rule": "has(self.run) != has(self.resultsUri)",
            "message": "give exactly one of 'run' or 'resultsUri'",
        }
    ],
    "BudgetSpec": [
        {
            "rule": "has(self.maxCoreHours) || has(self.maxGPUHours)",
            "message": "give maxCoreHours, maxGPUHours or both (or leave budget out)",
        }
    ],
    "GateSpec": [
        {
            "rule": " || ".join(
                f"has(self.{f.alias or name})" for name, f in GateSpec.model_fields.items()
            ),
            "message": "an empty gate passes everything: give at least one threshold, or "
            "leave the gate out",
        }
    ],
    "StrategySpec": [
        {"rule": f"!{_IS_KFOLD} || has(self.k)", "message": "KFold needs 'k'"},
        {
            "rule": f"{_IS_KFOLD} || (!has(self.k) && !(has(self.shuffle) && self.shuffle))",
            "message": "'k' and 'shuffle' apply to KFold only",
        },
        {
            "rule": "!has(self.subset) || !has(self.type) || self.type == 'LeaveOneOut'",
            "message": "'subset' applies to LeaveOneOut only",
        },
    ],
}

_KEEP = (
    "description",
    "enum",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minItems",
    "maxItems",
    "format",
)


class _Converter:
    """pydantic JSON Schema (draft 2020-12 flavour) to a Kubernetes structural schema."""

    def __init__(self, definitions: Mapping[str, Any]) -> None:
        self.definitions = definitions

    def _resolve(self, node: Mapping[str, Any]) -> Mapping[str, Any]:
        ref = node.get("$ref")
        if ref is None:
            return node
        resolved = dict(self.definitions[ref.rsplit("/", 1)[-1]])
        resolved.update({k: v for k, v in node.items() if k != "$ref"})
        return resolved

    def convert(self, node: Mapping[str, Any]) -> dict[str, Any]:
        node = self._resolve(node)
        if "anyOf" in node:
            return self._union(node)
        if "const" in node:
            node = {**node, "enum": [node["const"]]}
        out: dict[str, Any] = {k: copy.deepcopy(node[k]) for k in _KEEP if k in node}
        # JSON Schema's numeric exclusive bounds are booleans beside the bound in OpenAPI v3.0
        for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
            if not isinstance(out.get(exclusive, True), bool):
                out[bound], out[exclusive] = out[exclusive], True
        kind = node.get("type")
        if kind == "object":
            out["type"] = "object"
            properties = node.get("properties")
            extra = node.get("additionalProperties")
            if properties:
                out["properties"] = {k: self.convert(v) for k, v in properties.items()}
                if node.get("required"):
                    out["required"] = list(node["required"])
            elif isinstance(extra, Mapping) and extra:
                out["additionalProperties"] = self.convert(extra)
            else:  # dict[str, Any]: free-form (estimator parameters)
                out["x-kubernetes-preserve-unknown-fields"] = True
            rules = CROSS_FIELD_RULES.get(node.get("title", ""))
            if rules:
                out["x-kubernetes-validations"] = copy.deepcopy(rules)
        elif kind == "array":
            out["type"] = "array"
            out["items"] = self.convert(node.get("items", {}))
        elif kind is not None:
            out["type"] = kind
        else:
            out["x-kubernetes-preserve-unknown-fields"] = True
        for key, value in node.items():
            if key.startswith("x-kubernetes-"):
                out[key] = copy.deepcopy(value)
        if (
            "default" in node
            and node["default"] is not None
            and not isinstance(node["default"], dict | list)
        ):
            out["default"] = node["default"]
        return out

    def _union(self, node: Mapping[str, Any]) -> dict[str, Any]:
        branches = [self._resolve(b) for b in node["anyOf"] if b.get("type") != "null"]
        outer = {k: v for k, v in node.items() if k not in ("anyOf", "title")}
        if len(branches) == 1:
            merged = {**branches[0], **{k: v for k, v in outer.items() if k != "default"}}
            if outer.get("default") is not None:
                merged["default"] = outer["default"]
            return self.convert(merged)
        kinds = sorted(b.get("type", "") for b in branches)
        if kinds == ["integer", "string"]:
            return self._int_or_string(branches, outer)
        raise ValueError(f"no structural form for the union {kinds}")

    def _int_or_string(
        self, branches: list[Mapping[str, Any]], outer: Mapping[str, Any]
    ) -> dict[str, Any]:
        """A structural schema allows no types inside the junctors but the bare
        integer/string pair; each branch's constraints move up to the node, where they apply
        to their own type only (``minimum`` ignores strings, ``pattern`` ignores numbers)."""
        integer = next(b for b in branches if b.get("type") == "integer")
        string = next(b for b in branches if b.get("type") == "string")
        out: dict[str, Any] = {
            "x-kubernetes-int-or-string": True,
            "anyOf": [{"type": "integer"}, {"type": "string"}],
        }
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if key in integer:
                out[key] = integer[key]
        for key in ("pattern", "minLength", "maxLength"):
            if key in string:
                out[key] = string[key]
        words = string.get("enum") or ([string["const"]] if "const" in string else None)
        if words:
            if "pattern" in out:
                raise ValueError("an int-or-string with both an enum and a pattern")
            out["pattern"] = "^(" + "|".join(re.escape(str(w)) for w in words) + ")$"
        if "description" in outer:
            out["description"] = outer["description"]
        if outer.get("default") is not None:
            out["default"] = outer["default"]
        return out


def _schema_of(model: type[Any]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return _Converter(raw.get("$defs", {})).convert(raw)


def _has(path: str, field: str) -> str:
    return f"has({path}.{field})"


def immutability_rules() -> list[dict[str, str]]:
    """CEL transition rules on ``spec``: nothing but suspend, maxConcurrentJobs and budget
    changes.

    Model parameters are free-form (unknown to CEL), so they are not covered here; the
    operator runs the spec pinned in plan.json whatever happens to the resource.
    """
    rules: list[dict[str, str]] = []
    for field, info in LOOCVRunSpec.model_fields.items():
        name = info.alias or field
        if name in MUTABLE_SPEC_FIELDS or name == "execution":
            continue
        if info.is_required():
            rule = f"self.{name} == oldSelf.{name}"
        else:
            rule = (
                f"has(self.{name}) == has(oldSelf.{name}) && "
                f"(!has(self.{name}) || self.{name} == oldSelf.{name})"
            )
        rules.append({"rule": rule, "message": f"spec.{name} is immutable once the run exists"})
    for field, info in ExecutionSpec.model_fields.items():
        name = info.alias or field
        if name in MUTABLE_EXECUTION_FIELDS:
            continue
        new = f"(has(self.execution) && has(self.execution.{name}))"
        old = f"(has(oldSelf.execution) && has(oldSelf.execution.{name}))"
        rule = f"{new} == {old} && (!{new} || self.execution.{name} == oldSelf.execution.{name})"
        rules.append(
            {
                "rule": rule,
                "message": f"spec.execution.{name} is immutable once the run exists "
                "(only maxConcurrentJobs, budget and suspend may change)",
            }
        )
    return rules


def _camel(field: str) -> str:
    head, *rest = field.split("_")
    return head + "".join(p.title() for p in rest)


def openapi_schema() -> dict[str, Any]:
    spec = _schema_of(LOOCVRunSpec)
    spec["description"] = "What to cross-validate, and how to run it."
    spec["x-kubernetes-validations"] = immutability_rules()
    status = _schema_of(LOOCVRunStatus)
    status["description"] = "Written by the operator; small and bounded."
    return {
        "type": "object",
        "description": "A Leave-One-Out Cross-Validation of a scikit-learn model, run as "
        "Kubernetes Jobs.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
    }


def printer_columns() -> list[dict[str, Any]]:
    def condition(type_: str) -> str:
        return f'.status.conditions[?(@.type=="{type_}")].status'

    return [
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {
            "name": "Folds",
            "type": "string",
            "jsonPath": ".status.progress",
            "description": "folds done/total",
        },
        {"name": "Accuracy", "type": "number", "jsonPath": ".status.metrics.accuracy"},
        {
            "name": "Gate",
            "type": "string",
            "jsonPath": condition("GatePassed"),
            "description": "GatePassed condition",
        },
        {"name": "Complete", "type": "string", "jsonPath": condition("Complete"), "priority": 1},
        {"name": "R2", "type": "number", "jsonPath": ".status.metrics.r2", "priority": 1},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]


def build_crd() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": NAME,
            "labels": {"app.kubernetes.io/name": "loocv-operator"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
                "categories": list(CATEGORIES),
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": printer_columns(),
                    "schema": {"openAPIV3Schema": openapi_schema()},
                }
            ],
        },
    }


HEADER = (
    "# Generated by `python -m loocv_operator.kube.crd` from the manifest model\n"
    "# (operator/loocv_operator/spec.py). Do not edit: regenerate.\n"
)


def render_yaml() -> str:
    return HEADER + yaml.safe_dump(build_crd(), sort_keys=False, width=100)


def main() -> int:
    sys.stdout.write(render_yaml())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
