"""Operator settings: flags over environment over defaults."""

from __future__ import annotations

import pytest

from loocv_operator.kube.settings import DEFAULT_IMAGE, load


def test_defaults() -> None:
    settings = load([], env={})
    assert settings.clusterwide and settings.namespaces == ()
    assert settings.trainer_image == DEFAULT_IMAGE
    assert settings.status_interval == 10.0 and settings.workers == 4
    assert settings.allowlist == ("sklearn",)
    assert settings.liveness == "http://0.0.0.0:8081/healthz"
    assert settings.log_format == "plain" and settings.peering is None


def test_environment() -> None:
    settings = load(
        [],
        env={
            "LOOCV_NAMESPACES": "a, b",
            "LOOCV_ESTIMATOR_ALLOWLIST": "xgboost,lightgbm",
            "LOOCV_TRAINER_IMAGE": "img:1",
            "LOOCV_STORAGE_URI": "s3://b/p/",
            "LOOCV_S3_ENDPOINT": "http://minio:9000",
            "LOOCV_STORAGE_SECRET": "s3",
            "LOOCV_STATUS_INTERVAL": "2.5",
            "LOOCV_WORKERS": "8",
            "LOOCV_LOG_FORMAT": "json",
            "LOOCV_METRICS_PORT": "0",
            "LOOCV_MAX_RESUBMITS": "0",
        },
    )
    assert settings.namespaces == ("a", "b") and not settings.clusterwide
    assert settings.allowlist_extra == ("xgboost", "lightgbm")
    assert settings.trainer_image == "img:1" and settings.storage_uri == "s3://b/p/"
    assert settings.s3_endpoint == "http://minio:9000" and settings.storage_secret == "s3"
    assert settings.status_interval == 2.5 and settings.workers == 8
    assert settings.log_format == "json" and settings.metrics_port == 0
    assert settings.max_resubmits == 0


def test_flags_win_over_the_environment() -> None:
    settings = load(
        [
            "-n",
            "x",
            "-n",
            "y",
            "--workers",
            "2",
            "--status-interval",
            "1",
            "--liveness",
            "none",
            "--allow",
            "mylib",
            "--log-format",
            "plain",
            "--peering",
            "loocv",
        ],
        env={"LOOCV_NAMESPACES": "a", "LOOCV_WORKERS": "8", "LOOCV_LOG_FORMAT": "json"},
    )
    assert settings.namespaces == ("x", "y")
    assert settings.workers == 2 and settings.status_interval == 1.0
    assert settings.liveness is None and settings.peering == "loocv"
    assert settings.allowlist == ("sklearn", "mylib") and settings.log_format == "plain"


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (["--workers", "0"], {}),
        (["--status-interval", "0"], {}),
        ([], {"LOOCV_WORKERS": "many"}),
        (["--storage-uri", "/data/results"], {}),
    ],
    ids=["no-workers", "no-interval", "not-a-number", "local-store"],
)
def test_bad_settings_stop_at_start_up(argv: list[str], env: dict[str, str]) -> None:
    with pytest.raises(SystemExit):
        load(argv, env=env)


def test_a_local_store_needs_the_explicit_flag() -> None:
    assert load(["--storage-uri", "/data", "--allow-local-store"], env={}).storage_uri == "/data"


def test_trainer_default_resources_from_flags_environment_or_defaults() -> None:
    settings = load([], env={})
    assert (settings.trainer_cpu_request, settings.trainer_memory_request) == ("500m", "512Mi")
    assert settings.trainer_memory_limit == "2Gi"
    env = {"LOOCV_TRAINER_MEMORY_LIMIT": "", "LOOCV_TRAINER_CPU_REQUEST": "2"}
    settings = load(["--trainer-memory-request", "1Gi"], env=env)
    assert settings.trainer_cpu_request == "2" and settings.trainer_memory_request == "1Gi"
    assert settings.trainer_memory_limit == ""  # set but empty: no default limit
    with pytest.raises(SystemExit, match="LOOCV_TRAINER_MEMORY_LIMIT"):
        load(["--trainer-memory-limit", "lots"], env={})


def test_the_oom_memory_cap_from_flag_environment_or_default() -> None:
    assert load([], env={}).trainer_memory_cap == "8Gi"
    assert load([], env={"LOOCV_TRAINER_MEMORY_CAP": "16Gi"}).trainer_memory_cap == "16Gi"
    assert load(["--trainer-memory-cap", ""], env={}).trainer_memory_cap == ""  # never raise
    with pytest.raises(SystemExit, match="LOOCV_TRAINER_MEMORY_CAP"):
        load(["--trainer-memory-cap", "a lot"], env={})
