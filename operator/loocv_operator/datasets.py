"""Loading the samples: scikit-learn's bundled sets by name, or CSV/Parquet/NPZ files.

Everything that can be wrong with the data is found here, before any fold runs, and named:
the file, the column, the first offending rows. NPZ files are read with pickles disabled.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InvalidInput
from .spec import DatasetSpec, StorageSpec
from .store import read_uri


@dataclass(frozen=True)
class Dataset:
    X: np.ndarray
    y: np.ndarray
    ids: list[str]
    groups: np.ndarray | None
    feature_names: list[str]
    source: str

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    def digest(self) -> str:
        """Identifies the data exactly; trainers refuse a plan made for other data."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.X, dtype=np.float64).tobytes())
        h.update(json.dumps([str(v) for v in self.y.tolist()]).encode())
        h.update(json.dumps(self.ids).encode())
        if self.groups is not None:
            h.update(json.dumps([str(g) for g in self.groups.tolist()]).encode())
        return h.hexdigest()


def _builtin(name: str) -> Dataset:
    from sklearn import datasets as skd

    loaders = {
        "iris": skd.load_iris,
        "wine": skd.load_wine,
        "breast_cancer": skd.load_breast_cancer,
        "digits": skd.load_digits,
        "diabetes": skd.load_diabetes,
    }
    bunch: Any = loaders[name]()
    X = np.ascontiguousarray(bunch.data, dtype=np.float64)
    names = [str(f) for f in getattr(bunch, "feature_names", [])] or [
        f"x{i}" for i in range(X.shape[1])
    ]
    return Dataset(
        X=X,
        y=np.asarray(bunch.target),
        ids=[str(i) for i in range(X.shape[0])],
        groups=None,
        feature_names=names,
        source=f"builtin:{name}",
    )


def _first_rows(mask: np.ndarray, limit: int = 5) -> str:
    rows = np.flatnonzero(mask)[:limit].tolist()
    more = " …" if mask.sum() > limit else ""
    return ", ".join(str(r) for r in rows) + more


def _check_finite(X: np.ndarray, names: list[str], source: str) -> None:
    bad = ~np.isfinite(X)
    if bad.any():
        column = int(np.flatnonzero(bad.any(axis=0))[0])
        raise InvalidInput(
            source,
            f"feature column {names[column]!r} has missing or non-finite values "
            f"(rows {_first_rows(bad[:, column])}); impute or drop them before LOOCV",
        )


def _read_table(data: bytes, fmt: str, source: str) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if not data.strip():
        raise InvalidInput(source, "the file is empty")
    try:
        if fmt == "csv":
            options = pacsv.ConvertOptions(strings_can_be_null=True)  # '' is missing
            return pacsv.read_csv(io.BytesIO(data), convert_options=options)
        return pq.read_table(io.BytesIO(data))
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(source, f"cannot read as {fmt}: {exc}") from None


def _column_values(table: Any, name: str, field: str, source: str) -> np.ndarray:
    if name not in table.column_names:
        raise InvalidInput(
            field, f"column {name!r} is not in {source} (columns: {', '.join(table.column_names)})"
        )
    column = table.column(name)
    if column.null_count:
        nulls = np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        raise InvalidInput(
            source, f"column {name!r} has missing values (rows {_first_rows(nulls)})"
        )
    return np.asarray(column.to_numpy(zero_copy_only=False))


def _from_table(table: Any, spec: DatasetSpec, source: str) -> Dataset:
    import pyarrow.types as pat

    if table.num_rows == 0:
        raise InvalidInput(source, "the file has no rows")
    if not spec.target:
        raise InvalidInput("spec.dataset.target", f"name the target column of {source}")
    y = _column_values(table, spec.target, "spec.dataset.target", source)
    reserved = {spec.target, spec.id_column, spec.group_column}
    if spec.features is not None:
        features = list(spec.features)
        for i, name in enumerate(features):
            if name not in table.column_names:
                raise InvalidInput(
                    f"spec.dataset.features[{i}]", f"column {name!r} is not in {source}"
                )
            if name in reserved:
                role = {spec.target: "target", spec.id_column: "idColumn"}.get(name, "groupColumn")
                raise InvalidInput(
                    f"spec.dataset.features[{i}]",
                    f"{name!r} is the {role}: as a feature it would leak into every fold "
                    "(the target would predict itself); leave it out",
                )
    else:
        features = [c for c in table.column_names if c not in reserved]
    if not features:
        raise InvalidInput("spec.dataset.features", f"{source} has no feature columns")
    columns = []
    for name in features:
        kind = table.schema.field(name).type
        if not (
            pat.is_integer(kind)
            or pat.is_floating(kind)
            or pat.is_boolean(kind)
            or pat.is_decimal(kind)
        ):
            raise InvalidInput(
                source,
                f"feature column {name!r} is not numeric ({kind}); encode it as numbers "
                "or leave it out of spec.dataset.features",
            )
        column = table.column(name)
        if column.null_count:
            nulls = np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
            raise InvalidInput(
                source,
                f"feature column {name!r} has missing values (rows {_first_rows(nulls)}); "
                "impute or drop them before LOOCV",
            )
        columns.append(np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64))
    X = np.ascontiguousarray(np.column_stack(columns), dtype=np.float64)
    _check_finite(X, features, source)
    ids = (
        [str(v) for v in _column_values(table, spec.id_column, "spec.dataset.idColumn", source)]
        if spec.id_column
        else [str(i) for i in range(len(y))]
    )
    if spec.id_column and len(set(ids)) != len(ids):
        raise InvalidInput("spec.dataset.idColumn", f"ids in {spec.id_column!r} are not unique")
    groups = (
        _column_values(table, spec.group_column, "spec.dataset.groupColumn", source)
        if spec.group_column
        else None
    )
    return Dataset(X=X, y=y, ids=ids, groups=groups, feature_names=features, source=source)


def _from_npz(data: bytes, spec: DatasetSpec, source: str) -> Dataset:
    if not data:
        raise InvalidInput(source, "the file is empty")
    try:
        archive = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InvalidInput(source, f"cannot read as .npz: {exc}") from None
    target = spec.target or "y"
    try:
        with archive:
            keys = set(archive.files)
            for key, field in (("X", "X"), (target, "spec.dataset.target")):
                if key not in keys:
                    raise InvalidInput(
                        field if field != "X" else source,
                        f"array {key!r} is not in {source} (arrays: {', '.join(sorted(keys))})",
                    )
            X = np.asarray(archive["X"])
            y = np.asarray(archive[target])
            ids_raw = archive["ids"] if "ids" in keys else None
            groups = np.asarray(archive["groups"]) if "groups" in keys else None
            names_raw = archive["feature_names"] if "feature_names" in keys else None
    except ValueError as exc:  # object arrays need pickle, which we never allow
        raise InvalidInput(source, f"cannot read as .npz without pickles: {exc}") from None
    if X.ndim != 2 or X.shape[0] == 0:
        raise InvalidInput(source, f"array 'X' must be 2-D with rows, got shape {X.shape}")
    if y.ndim != 1 or len(y) != X.shape[0]:
        raise InvalidInput(source, f"array {target!r} must be 1-D with {X.shape[0]} entries")
    if not np.issubdtype(X.dtype, np.number) and X.dtype != bool:
        raise InvalidInput(source, f"array 'X' is not numeric ({X.dtype})")
    X = np.ascontiguousarray(X, dtype=np.float64)
    names = (
        [str(n) for n in names_raw.tolist()]
        if names_raw is not None
        else [f"x{i}" for i in range(X.shape[1])]
    )
    _check_finite(X, names, source)
    ids = (
        [str(v) for v in ids_raw.tolist()]
        if ids_raw is not None
        else [str(i) for i in range(len(y))]
    )
    return Dataset(X=X, y=y, ids=ids, groups=groups, feature_names=names, source=source)


def load_dataset(spec: DatasetSpec, storage: StorageSpec | None = None) -> Dataset:
    """Load and check the dataset a manifest names."""
    if spec.builtin:
        dataset = _builtin(spec.builtin)
    else:
        assert spec.uri is not None
        fmt = spec.file_format
        endpoint = storage.endpoint if storage else None
        region = storage.region if storage else None
        data = read_uri(spec.uri, endpoint, region)
        if fmt == "npz":
            dataset = _from_npz(data, spec, spec.uri)
        else:
            dataset = _from_table(_read_table(data, fmt, spec.uri), spec, spec.uri)
    if dataset.n_samples < 2:
        raise InvalidInput(dataset.source, f"needs at least 2 samples, has {dataset.n_samples}")
    return dataset
