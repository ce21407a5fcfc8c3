"""The allowlist as a string check: what the operator refuses before creating any Job."""

from __future__ import annotations

import subprocess
import sys

from loocv_operator.allowlist import DEFAULT_ALLOWLIST, refused_names
from loocv_operator.spec import parse_spec


def model(**fields: object) -> object:
    return parse_spec({"dataset": {"builtin": "iris"}, "model": fields}).model


def test_every_estimator_name_of_the_model_is_checked_with_its_field() -> None:
    spec = model(
        estimator="sklearn.ensemble.BaggingClassifier",
        params={"estimator": {"estimator": "os.system", "params": {}}},
        preprocessing=[
            {"estimator": "subprocess.Popen"},
            {"estimator": "sklearn.preprocessing.StandardScaler"},
        ],
    )
    refused = refused_names(spec, DEFAULT_ALLOWLIST)  # type: ignore[arg-type]
    assert [where for where, _ in refused] == [
        "spec.model.params.estimator.estimator",
        "spec.model.preprocessing[0].estimator",
    ]
    assert "'os.system' is not allowed" in refused[0][1]


def test_allowed_names_pass_and_the_check_imports_nothing() -> None:
    spec = model(estimator="sklearn.naive_bayes.GaussianNB")
    assert refused_names(spec, DEFAULT_ALLOWLIST) == []  # type: ignore[arg-type]
    code = (
        "import sys; from loocv_operator.allowlist import refused_names; "
        "print('sklearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
