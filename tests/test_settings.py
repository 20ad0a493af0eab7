"""Settings are resolved once, in priority CLI > env > ini > default, with errors naming the source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_cerebras_perf.settings import OPTIONS, RawValues, Settings, SettingsError, normalise_base_url, resolve


def settings_from(
    cli: dict[str, Any] | None = None,
    ini: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    api_key: str | None = None,
) -> Settings:
    values = RawValues(lambda dest: (cli or {}).get(dest), lambda key: (ini or {}).get(key), env or {})
    return resolve(values, root=Path("/project"), api_key=api_key)


def test_defaults() -> None:
    s = settings_from()
    assert (s.iterations, s.warmup, s.concurrency, s.target) == (10, 1, (1,), "auto")
    assert s.gate_metrics == ("ttft", "e2e", "output_tps", "server_total", "error_rate")
    assert s.baseline_dir == Path("/project/baselines")
    assert s.report_path == Path("/project/perf-report.html")
    assert s.percentiles == (50, 95, 99) and s.progress_every == 5 and s.csv_path is None
    assert settings_from(cli={"perf_percentiles": "p50, 90,99.9"}).percentiles == (50, 90, 99.9)


def test_target_name_from_cli_env_or_ini() -> None:
    assert settings_from().target_name is None
    assert settings_from(ini={"perf_target_name": "ci-vllm"}).target_name == "ci-vllm"
    assert settings_from(env={"CEREBRAS_PERF_TARGET_NAME": "staging"}).target_name == "staging"
    assert settings_from(cli={"perf_target_name": "prod"}, env={"CEREBRAS_PERF_TARGET_NAME": "x"}).target_name == "prod"


def test_save_and_drift_flags_are_off_unless_given() -> None:
    s = settings_from()
    assert not (s.accept_regression or s.fail_on_drift)
    s = settings_from(cli={"perf_accept_regression": True}, ini={"perf_fail_on_drift": True})
    assert s.accept_regression and s.fail_on_drift


def test_priority_cli_over_env_over_ini() -> None:
    assert settings_from(ini={"perf_iterations": "4"}).iterations == 4
    assert settings_from(ini={"perf_iterations": "4"}, env={"CEREBRAS_PERF_ITERATIONS": "5"}).iterations == 5
    assert settings_from(cli={"iterations": "6"}, env={"CEREBRAS_PERF_ITERATIONS": "5"}).iterations == 6


@pytest.mark.parametrize(
    ("cli", "ini", "env", "message"),
    [
        ({"iterations": "0"}, {}, {}, "--iterations: must be >= 1, got 0"),
        ({"iterations": "ten"}, {}, {}, "--iterations: expected a whole number, got 'ten'"),
        ({}, {"perf_iterations": "-2"}, {}, "ini perf_iterations: must be >= 1, got -2"),
        ({}, {}, {"CEREBRAS_PERF_ITERATIONS": "x"}, "env CEREBRAS_PERF_ITERATIONS: expected a whole number"),
        ({"concurrency": "1,,8"}, {}, {}, "--concurrency: expected a comma-separated list"),
        ({"concurrency": "1,eight"}, {}, {}, "--concurrency (item 'eight'): expected a whole number"),
        ({"concurrency": "4,4"}, {}, {}, "--concurrency: repeated concurrency level"),
        ({"perf_target": "mars"}, {}, {}, "--perf-target: expected one of auto, cloud, emulator, url"),
        ({"perf_ray": "head-node"}, {}, {}, "--perf-ray: expected auto, ray://host:port or host:port"),
        ({"perf_ray": "auto", "perf_workers": "2"}, {}, {}, "--perf-ray: Ray actors are the client workers; drop"),
        ({"perf_ray_actors": "0"}, {}, {"CEREBRAS_PERF_RAY": "ray://h:1"}, "--perf-ray-actors: must be >= 1, got 0"),
        ({"perf_target_name": "../etc"}, {}, {}, "--perf-target-name: expected a name of letters, digits"),
        ({}, {"perf_target_name": "a b"}, {}, "ini perf_target_name: expected a name of letters, digits"),
        ({"perf_target": "url"}, {}, {}, "--perf-target url: needs --perf-base-url URL"),
        ({"perf_target": "cloud"}, {}, {}, "--perf-target cloud: no API key"),
        ({"perf_timeout": "-1"}, {}, {}, "--perf-timeout: must be a positive number"),
        ({"perf_base_url": "localhost:8000"}, {}, {}, "--perf-base-url: expected an http(s) URL"),
        ({"perf_gate_metrics": "ttft,speed"}, {}, {}, "--perf-gate-metrics: unknown metric 'speed'"),
        ({"perf_alpha": "0.7"}, {}, {}, "--perf-alpha: must be below 0.5"),
        ({"warmup": "-1"}, {}, {}, "--warmup: must be >= 0, got -1"),
        ({"perf_retries": "x"}, {}, {}, "--perf-retries: expected a whole number"),
        ({"perf_workers": "0"}, {}, {}, "--perf-workers: must be >= 1, got 0"),
        ({"perf_baseline_runs": "0"}, {}, {}, "--perf-baseline-runs: must be >= 1, got 0"),
        ({"perf_tolerance": "-0.1"}, {}, {}, "--perf-tolerance: must be a positive number"),
        ({"request_rate": "0"}, {}, {}, "--request-rate: must be a positive number"),
        ({"perf_max_client_lag": "fast"}, {}, {}, "--perf-max-client-lag: expected a number"),
        ({}, {"perf_timeout": "nan"}, {}, "ini perf_timeout: must be a positive number"),
        ({"perf_percentiles": "50,ninety"}, {}, {}, "--perf-percentiles: expected percentiles like 50,95,99"),
        ({"perf_percentiles": "50,100"}, {}, {}, "--perf-percentiles: percentiles must be between 0 and 100"),
        ({}, {}, {"CEREBRAS_PERF_PERCENTILES": "99,99"}, "env CEREBRAS_PERF_PERCENTILES: repeated percentile"),
        ({"perf_progress": "-5"}, {}, {}, "--perf-progress: must be a positive number"),
    ],
)
def test_bad_values_name_their_source(
    cli: dict[str, Any], ini: dict[str, Any], env: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError) as excinfo:
        settings_from(cli, ini, env)
    assert str(excinfo.value).startswith(message)
    assert "\n" not in str(excinfo.value)


def test_concurrency_sweep_and_base_url_normalisation() -> None:
    s = settings_from(cli={"concurrency": "1, 8,32", "perf_base_url": "http://localhost:8000/v1/"})
    assert s.concurrency == (1, 8, 32)
    assert s.base_url == "http://localhost:8000"
    assert normalise_base_url("https://user:pw@h.example/v1", "x") == "https://user:pw@h.example"


def test_api_key_never_in_repr() -> None:
    s = settings_from(api_key="sk-canary-123456")
    assert s.api_key is not None and s.api_key.reveal() == "sk-canary-123456"
    assert "sk-canary" not in repr(s) and "sk-canary" not in str(s.api_key) and "sk-canary" not in f"{s.api_key}"


def test_every_option_has_an_ini_key_and_flag() -> None:
    flags = [o.flag for o in OPTIONS]
    assert len(set(flags)) == len(flags)
    assert all(o.ini.startswith("perf_") for o in OPTIONS)
