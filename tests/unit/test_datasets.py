from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loocv_operator.datasets import load_dataset
from loocv_operator.errors import InvalidInput
from loocv_operator.spec import DatasetSpec, StorageSpec

CSV = "id,age,dose,site,label\na1,50,1.5,1,yes\na2,61,2.0,1,no\na3,47,0.5,2,yes\na4,70,3.0,2,no\n"


def csv_spec(path: Path, **extra: object) -> DatasetSpec:
    return DatasetSpec.model_validate(
        {"uri": str(path), "target": "label", "idColumn": "id", **extra}
    )


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer", "digits", "diabetes"])
def test_builtins(name: str) -> None:
    data = load_dataset(DatasetSpec(builtin=name))
    assert data.X.dtype == np.float64 and data.X.shape[0] == len(data.y) == len(data.ids)
    assert data.digest() == load_dataset(DatasetSpec(builtin=name)).digest()


def test_csv_with_ids_and_groups(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(CSV)
    data = load_dataset(csv_spec(path, groupColumn="site"))
    assert data.feature_names == ["age", "dose"]
    assert data.ids == ["a1", "a2", "a3", "a4"]
    assert data.y.tolist() == ["yes", "no", "yes", "no"]
    assert data.groups is not None and data.groups.tolist() == [1, 1, 2, 2]
    np.testing.assert_array_equal(data.X[1], [61.0, 2.0])


def test_parquet(tmp_path: Path) -> None:
    table = pa.table({"x1": [1.0, 2.0, 3.0], "x2": [0, 1, 0], "y": [0.5, 1.5, 2.5]})
    path = tmp_path / "d.parquet"
    pq.write_table(table, path)
    data = load_dataset(DatasetSpec.model_validate({"uri": str(path), "target": "y"}))
    assert data.X.shape == (3, 2) and data.y.tolist() == [0.5, 1.5, 2.5]


def test_npz(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(
        path,
        X=np.arange(12.0).reshape(6, 2),
        y=np.array([0, 1] * 3),
        ids=np.array([f"s{i}" for i in range(6)]),
    )
    data = load_dataset(DatasetSpec(uri=str(path)))
    assert data.ids[0] == "s0" and data.X.shape == (6, 2)


def test_npz_object_arrays_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.npz"
    np.savez(path, X=np.zeros((3, 1)), y=np.array([{"a": 1}, None, 3], dtype=object))
    with pytest.raises(InvalidInput, match="without pickles"):
        load_dataset(DatasetSpec(uri=str(path)))


@pytest.mark.parametrize(
    ("content", "extra", "where", "message"),
    [
        ("", {}, "d.csv", "the file is empty"),
        ("id,age,label\n", {}, "d.csv", "no rows"),
        (CSV, {"target": "outcome"}, "spec.dataset.target", "column 'outcome' is not in"),
        (CSV.replace("50,1.5", "50,"), {}, "d.csv", "'dose' has missing values (rows 0)"),
        (
            CSV.replace("1,yes", "north,yes"),
            {"features": ["age", "site"]},
            "d.csv",
            "'site' is not numeric",
        ),
        (CSV.replace("a2", "a1"), {}, "spec.dataset.idColumn", "not unique"),
        (CSV, {"features": ["age", "weight"]}, "spec.dataset.features[1]", "'weight'"),
        (CSV.replace("no\na3", "\na3"), {}, "d.csv", "'label' has missing values (rows 1)"),
    ],
)
def test_bad_files_are_named(tmp_path: Path, content, extra, where, message) -> None:
    path = tmp_path / "d.csv"
    path.write_text(content)
    with pytest.raises(InvalidInput) as err:
        load_dataset(csv_spec(path, **extra))
    assert err.value.where.endswith(where)
    assert message in err.value.message


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such file"):
        load_dataset(csv_spec(tmp_path / "nope.csv"))


def test_unknown_extension_needs_format(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as err:
        load_dataset(DatasetSpec(uri=str(tmp_path / "d.txt"), target="y"))
    assert err.value.where == "spec.dataset.format"


def test_infinite_values_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    X = np.ones((4, 2))
    X[2, 1] = np.inf
    np.savez(path, X=X, y=np.array([0, 1, 0, 1]))
    with pytest.raises(InvalidInput, match=r"'x1' has missing or non-finite values \(rows 2\)"):
        load_dataset(DatasetSpec(uri=str(path)))


def test_csv_from_s3(s3_bucket: str, s3_env: str) -> None:
    import boto3

    bucket = s3_bucket.removeprefix("s3://")
    boto3.client("s3", endpoint_url=s3_env).put_object(
        Bucket=bucket, Key="data/d.csv", Body=CSV.encode()
    )
    spec = DatasetSpec.model_validate(
        {"uri": f"{s3_bucket}/data/d.csv", "target": "label", "idColumn": "id"}
    )
    data = load_dataset(spec, StorageSpec(endpoint=s3_env))
    assert data.n_samples == 4
    with pytest.raises(InvalidInput, match="no such object"):
        load_dataset(DatasetSpec.model_validate({"uri": f"{s3_bucket}/x.csv", "target": "y"}))


def test_bytes_roundtrip_is_exact(tmp_path: Path) -> None:
    """Floats read from CSV equal the same floats parsed by numpy: no precision lost."""
    values = np.random.RandomState(0).normal(size=(5, 2))
    buf = io.StringIO()
    buf.write("a,b,y\n")
    for row in values:
        buf.write(f"{float(row[0])!r},{float(row[1])!r},1\n")
    path = tmp_path / "d.csv"
    path.write_text(buf.getvalue())
    data = load_dataset(DatasetSpec.model_validate({"uri": str(path), "target": "y"}))
    np.testing.assert_array_equal(data.X, values)
