"""Warm-started folds (``spec.model.warmStart: true``).

Each process fits the model once on every row; each fold's solver then starts from a copy of
those coefficients instead of from zeros, and runs to its own convergence test. The fold's
result is its own optimum only as precisely as ``tol`` says: at scikit-learn's default
tolerance the full-data coefficients already pass the test for most folds, so the
"held-out" prediction would be the full-data model's, which saw the sample. Hence:

- only estimators whose ``warm_start`` means "start the solver from these coefficients" are
  admitted (not GradientBoosting, RandomForest or MLP, where it means "add to the fit");
- each with a bound on ``tol``, measured to keep every probability and prediction within
  1e-4 of a cold fit on iris, breast_cancer and diabetes with a margin of 10x or more
  (tests/unit/test_warm_start.py checks it; ``python -m bench`` times it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression
from sklearn.pipeline import Pipeline

from .errors import InvalidInput

WARM_PATH = "warm-start"


@dataclass(frozen=True)
class WarmRule:
    """The loosest tol admitted, per solver (None: the estimator has one solver)."""

    max_tol: dict[str | None, float]


# Measured as max |warm - cold| over LOO probabilities or predictions (with and without a
# scaler, C up to 100); tests/unit/test_warm_start.py re-checks four cases, the bench three.
RULES: dict[type[Any], WarmRule] = {
    LogisticRegression: WarmRule(
        {
            # 1e-8: 9e-6 on breast_cancer (C=100); tighter does not help, its ftol stops first
            "lbfgs": 1e-8,
            "newton-cg": 1e-8,  # 1e-8: 3e-6
            "newton-cholesky": 1e-8,  # 1e-8: 5e-6
            "sag": 1e-8,  # 1e-8: 6e-6
        }
    ),
    Lasso: WarmRule({None: 1e-9}),  # 1e-8 left 3e-5 on diabetes (y up to 346), 1e-9 3e-6
    ElasticNet: WarmRule({None: 1e-9}),  # 1e-9: 1e-8
}


# Solvers refused, and why (any other solver is refused as not honouring warm_start).
WHY_NOT = {
    "liblinear": "ignores warm_start",
    "saga": "stayed 4e-5 from a cold fit at tol=1e-8 and 1e-5 at 1e-9 (breast_cancer, C=100), "
    "too close to the 1e-4 bound, and starting warm saved it nothing at 1e-9",
}


def final_step(estimator: Any) -> Any:
    """The estimator a Pipeline ends in (the one a warm start applies to)."""
    while isinstance(estimator, Pipeline):
        estimator = estimator.steps[-1][1]
    return estimator


def check_warm_start(estimator: Any) -> None:
    """Refuse a warm start that would not give each fold its own fit, naming the field."""
    final = final_step(estimator)
    rule = RULES.get(type(final))
    if rule is None:
        admitted = ", ".join(cls.__name__ for cls in RULES)
        raise InvalidInput(
            "spec.model.warmStart",
            f"a warm start applies to {admitted} only, where warm_start means starting the "
            f"solver from the full-data coefficients; {type(final).__name__} does not "
            "qualify (for ensembles and networks warm_start adds to the fitted model, which "
            "would leak the held-out sample into its own prediction)",
        )
    params = final.get_params(deep=False)
    solver = params.get("solver") if None not in rule.max_tol else None
    if solver not in rule.max_tol:
        raise InvalidInput(
            "spec.model.params.solver",
            f"a warm start needs one of the solvers {', '.join(map(str, rule.max_tol))}; "
            f"{solver!r} {WHY_NOT.get(str(solver), 'does not honour warm_start')}",
        )
    max_tol = rule.max_tol[solver]
    tol = float(params["tol"])
    if tol > max_tol:
        default = float(type(final)().get_params()["tol"])
        which = " (scikit-learn's default)" if tol == default else ""
        raise InvalidInput(
            "spec.model.params.tol",
            f"{tol:g}{which} is too loose for a warm start: each fold starts from the model "
            "fitted on all rows, and at this tolerance the solver stops at once for most "
            "folds, returning the full-data model, which saw the held-out sample. Set tol "
            f"to {max_tol:g} or less for {type(final).__name__}"
            f"{f' with solver {solver!r}' if solver else ''}, which keeps every prediction "
            "within 1e-4 of a cold fit, or drop warmStart",
        )
