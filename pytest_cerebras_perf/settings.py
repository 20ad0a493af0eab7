"""One frozen :class:`Settings`, resolved once per session from CLI > env > ini > defaults.

Every option is declared once in :data:`OPTIONS`; the plugin registers CLI flags and ini keys from
that table, and :func:`resolve` validates each value with an error that names where the bad value
came from (``--iterations``, ``ini perf_iterations`` or ``env CEREBRAS_PERF_ITERATIONS``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .dialect import LENGTH_FIELDS
from .emulator.profile import DEFAULT_PROFILE
from .redact import register_secret, register_url_credentials

TargetKind = Literal["auto", "cloud", "emulator", "url"]
EndpointKind = Literal["emulator", "cloud", "custom"]


class SettingsError(ValueError):
    """A bad option value; the message is one line and names its source."""


@dataclass(frozen=True)
class Option:
    """One setting: its CLI flag, ini key, optional env var, default and help text."""

    dest: str
    flag: str
    help: str
    default: str | None
    env: str | None = None
    metavar: str | None = None
    is_flag: bool = False

    @property
    def ini(self) -> str:
        return "perf_" + self.dest.removeprefix("perf_")


OPTIONS: tuple[Option, ...] = (
    Option(
        "iterations",
        "--iterations",
        "measured iterations per scenario and concurrency level (each iteration is C concurrent requests)",
        "10",
        "CEREBRAS_PERF_ITERATIONS",
        "N",
    ),
    Option(
        "warmup",
        "--warmup",
        "unmeasured warmup requests per in-flight slot before timing",
        "1",
        "CEREBRAS_PERF_WARMUP",
        "N",
    ),
    Option(
        "concurrency",
        "--concurrency",
        "requests in flight; a list such as 1,8,32 makes a sweep",
        "1",
        "CEREBRAS_PERF_CONCURRENCY",
        "C[,C...]",
    ),
    Option(
        "model",
        "--model",
        "model id (default: the emulator's model, else the first one the endpoint lists)",
        None,
        "CEREBRAS_PERF_MODEL",
        "NAME",
    ),
    Option(
        "perf_target",
        "--perf-target",
        "auto = base URL if given, else cloud if a key is set, else the built-in emulator",
        "auto",
        "CEREBRAS_PERF_TARGET",
        "auto|cloud|emulator|url",
    ),
    Option(
        "perf_base_url",
        "--perf-base-url",
        "any OpenAI-compatible endpoint (vLLM, SGLang, llama.cpp); a trailing /v1 is accepted",
        None,
        "CEREBRAS_BASE_URL",
        "URL",
    ),
    Option(
        "perf_scenarios",
        "--perf-scenarios",
        "scenarios file (default: scenarios.yaml next to the test module, searched upwards to rootdir)",
        None,
        None,
        "FILE",
    ),
    Option(
        "perf_timeout",
        "--perf-timeout",
        "per-request timeout in seconds; a hung request becomes an error sample",
        "60",
        "CEREBRAS_PERF_TIMEOUT",
        "S",
    ),
    Option(
        "perf_json", "--perf-json", "results JSON path (default perf-results/results-<run id>.json)", None, None, "PATH"
    ),
    Option(
        "perf_retries",
        "--perf-retries",
        "retries of transient faults (5xx, drops, timeouts) per request, outside the timed interval",
        "3",
        None,
        "N",
    ),
    Option(
        "perf_emulator_profile",
        "--perf-emulator-profile",
        "emulator latency profile (built-in name or YAML file)",
        DEFAULT_PROFILE,
        "CEREBRAS_PERF_EMULATOR_PROFILE",
        "NAME|FILE",
    ),
    Option(
        "perf_request_rate",
        "--request-rate",
        "open-loop load: Poisson arrivals at R requests/s (seeded) instead of a closed loop",
        None,
        None,
        "R",
    ),
    Option(
        "perf_length_fields",
        "--perf-length-fields",
        "request fields that carry a scenario's pinned output length on this target (README: what each server "
        "honours); auto = max_completion_tokens,min_completion_tokens for Cerebras and the emulator, "
        "max_completion_tokens,max_tokens,min_tokens for other endpoints",
        "auto",
        "CEREBRAS_PERF_LENGTH_FIELDS",
        "auto|F[,F...]",
    ),
    Option(
        "perf_max_error_rate",
        "--perf-max-error-rate",
        "a scenario run whose share of failed requests is above this fails, with or without a baseline",
        "0.05",
        "CEREBRAS_PERF_MAX_ERROR_RATE",
        "FRACTION",
    ),
    Option("perf_workers", "--perf-workers", "spread in-flight requests over N client processes", "1", None, "N"),
    Option(
        "perf_max_client_lag",
        "--perf-max-client-lag",
        "client event-loop lag (s, p99) above which a run is marked client_saturated and not gated; also "
        "marked when requests spend over 10% of their time waiting for the client",
        "0.010",
        None,
        "S",
    ),
    Option(
        "perf_target_name",
        "--perf-target-name",
        "name of the baseline set of this endpoint (default: custom-<host><path>, the port left out)",
        None,
        "CEREBRAS_PERF_TARGET_NAME",
        "NAME",
    ),
    Option("perf_save", "--perf-save", "append this run to the baselines (explicit intent)", None, is_flag=True),
    Option(
        "perf_accept_regression",
        "--perf-accept-regression",
        "with --perf-save: also save scenarios with a confirmed regression (the regression becomes the baseline)",
        None,
        is_flag=True,
    ),
    Option("perf_baseline_dir", "--perf-baseline-dir", "where baselines live", "baselines", None, "DIR"),
    Option("perf_baseline_runs", "--perf-baseline-runs", "accepted runs pooled as the baseline", "3", None, "K"),
    Option(
        "perf_tolerance",
        "--perf-tolerance",
        "materiality threshold of the gate, e.g. 0.10 = 10%",
        "0.10",
        None,
        "FRACTION",
    ),
    Option(
        "perf_alpha", "--perf-alpha", "suite-wide false-alarm budget of the confirmation stage", "0.01", None, "ALPHA"
    ),
    Option(
        "perf_gate_metrics",
        "--perf-gate-metrics",
        "metrics to gate",
        "ttft,e2e,output_tps,server_total,error_rate",
        None,
        "M[,M...]",
    ),
    Option("perf_no_gate", "--perf-no-gate", "record only, gate nothing", None, is_flag=True),
    Option("perf_require_baseline", "--perf-require-baseline", "a missing baseline fails the test", None, is_flag=True),
    Option(
        "perf_fail_on_drift",
        "--perf-fail-on-drift",
        "fail a test whose metric slid steadily across the stored baseline runs (verdict 'drifting')",
        None,
        is_flag=True,
    ),
    Option("perf_report", "--perf-report", "HTML report path, or 'none'", "perf-report.html", None, "PATH"),
    Option(
        "perf_benchmark_json",
        "--perf-benchmark-json",
        "also export latency metrics in pytest-benchmark's JSON format",
        None,
        None,
        "PATH",
    ),
    Option(
        "perf_csv",
        "--perf-csv",
        "also write every measured request as one CSV row (results JSON fields)",
        None,
        None,
        "PATH",
    ),
    Option(
        "perf_jsonl",
        "--perf-jsonl",
        "also write every measured request as one JSON line (the results JSON's samples)",
        None,
        None,
        "PATH",
    ),
    Option(
        "perf_percentiles",
        "--perf-percentiles",
        "percentiles in the terminal summary, e.g. 50,90,99",
        "50,95,99",
        "CEREBRAS_PERF_PERCENTILES",
        "P[,P...]",
    ),
    Option(
        "perf_progress",
        "--perf-progress",
        "seconds between progress lines when the output is not a terminal (CI logs); 0 = none",
        "5",
        "CEREBRAS_PERF_PROGRESS",
        "S",
    ),
    Option(
        "perf_seed_results",
        "--perf-seed-results",
        "folder for the original study's results/benchmark_results_*.json files, or 'none'",
        "results",
        None,
        "DIR",
    ),
)

GATEABLE_METRICS = (
    "ttfb",
    "ttft",
    "ttfo",
    "e2e",
    "tpot",
    "output_tps",
    "server_total",
    "server_output_tps",
    "network_overhead",
    "error_rate",
    "goodput",  # share of requests meeting the scenario's SLO (goodput.py)
)


@dataclass(frozen=True)
class Settings:
    iterations: int
    warmup: int
    concurrency: tuple[int, ...]
    model: str | None
    target: TargetKind
    base_url: str | None
    scenarios_file: Path | None
    timeout: float
    json_path: Path | None
    retries: int
    emulator_profile: str
    request_rate: float | None
    workers: int
    max_client_lag: float
    target_name: str | None
    save: bool
    accept_regression: bool
    baseline_dir: Path
    baseline_runs: int
    tolerance: float
    alpha_suite: float
    gate_metrics: tuple[str, ...]
    gate: bool
    require_baseline: bool
    fail_on_drift: bool
    report_path: Path | None
    benchmark_json: Path | None
    seed_results_dir: Path | None
    csv_path: Path | None
    jsonl_path: Path | None
    percentiles: tuple[float, ...]
    progress_every: float
    length_fields: tuple[str, ...] | None  # None: by target kind (dialect.AUTO_LENGTH_FIELDS)
    max_error_rate: float
    api_key: Secret | None = field(default=None, repr=False)


def choose_kind(settings: Settings) -> EndpointKind:
    """Which endpoint the settings select; here, not in target.py, so the header needs no SDK import."""
    if settings.target == "emulator":
        return "emulator"
    if settings.target == "cloud":
        return "cloud"
    if settings.target == "url" or settings.base_url:
        return "custom"
    return "cloud" if settings.api_key else "emulator"


class Secret:
    """The API key, kept out of every repr, str and f-string so it cannot reach output by accident.

    Creating one registers the value with :func:`redact.register_secret`, so even a message that
    some library builds around the raw value (an SDK error, a URL) is masked before it is shown.
    Unpickling creates one too (``__reduce__``): a ``--perf-workers`` client process that receives
    the endpoint masks the key in everything it sends back, as the parent does.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register_secret(value)

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        return (Secret, (self._value,))

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


class RawValues:
    """Finds an option's raw value and remembers where it came from, for error messages."""

    def __init__(
        self,
        cli: Callable[[str], Any],
        ini: Callable[[str], Any],
        env: Mapping[str, str],
    ) -> None:
        self._cli, self._ini, self._env = cli, ini, env

    def get(self, option: Option) -> tuple[Any, str]:
        value = self._cli(option.dest)
        if value is not None and value is not False:
            return value, option.flag
        if option.env and self._env.get(option.env):
            return self._env[option.env], f"env {option.env}"
        ini_value = self._ini(option.ini)
        if ini_value not in (None, "", []):
            return ini_value, f"ini {option.ini}"
        return option.default, f"{option.flag} (default)"


def _positive_int(raw: Any, source: str, *, minimum: int = 1) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise SettingsError(f"{source}: expected a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{source}: must be >= {minimum}, got {value}")
    return value


def _positive_float(raw: Any, source: str, *, allow_zero: bool = False) -> float:
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise SettingsError(f"{source}: expected a number, got {raw!r}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise SettingsError(f"{source}: must be a positive number, got {raw!r}")
    return value


def _concurrency(raw: Any, source: str) -> tuple[int, ...]:
    parts = [p.strip() for p in str(raw).split(",")]
    if not parts or any(not p for p in parts):
        raise SettingsError(f"{source}: expected a comma-separated list of whole numbers like 1,8,32, got {raw!r}")
    levels = tuple(_positive_int(p, f"{source} (item {p!r})") for p in parts)
    if len(set(levels)) != len(levels):
        raise SettingsError(f"{source}: repeated concurrency level in {raw!r}")
    return levels


def _target_name(raw: Any, source: str) -> str | None:
    """A baseline-set name: letters, digits, ``.``, ``_`` and ``-`` (it becomes a folder name)."""
    if raw is None or not str(raw).strip():
        return None
    name = str(raw).strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise SettingsError(
            f"{source}: expected a name of letters, digits, '.', '_' and '-' (it names a baseline folder), got {name!r}"
        )
    return name


def _percentiles(raw: Any, source: str) -> tuple[float, ...]:
    parts = [p.strip().removeprefix("p") for p in str(raw).split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise SettingsError(f"{source}: expected percentiles like 50,95,99, got {raw!r}") from None
    if not all(0 < v < 100 for v in values):
        raise SettingsError(f"{source}: percentiles must be between 0 and 100 (exclusive), got {raw!r}")
    if len(set(values)) != len(values):
        raise SettingsError(f"{source}: repeated percentile in {raw!r}")
    return values


def _length_fields(raw: Any, source: str) -> tuple[str, ...] | None:
    text = str(raw).strip().lower()
    if text in ("", "auto"):
        return None
    fields = tuple(f.strip() for f in text.split(",") if f.strip())
    unknown = [f for f in fields if f not in LENGTH_FIELDS]
    if unknown or not fields:
        raise SettingsError(
            f"{source}: unknown length field {unknown[0] if unknown else raw!r}; expected auto or a list of "
            f"{', '.join(LENGTH_FIELDS)}"
        )
    return fields


def _fraction(raw: Any, source: str) -> float:
    value = _positive_float(raw, source, allow_zero=True)
    if value > 1:
        raise SettingsError(f"{source}: expected a fraction from 0 to 1 (0.05 = 5%), got {raw!r}")
    return value


def _bool(raw: Any) -> bool:
    return raw is True or str(raw).strip().lower() in ("1", "true", "yes", "on")


def _path_or_none(raw: Any, root: Path) -> Path | None:
    if raw is None or str(raw).strip().lower() in ("", "none"):
        return None
    path = Path(str(raw)).expanduser()
    return path if path.is_absolute() else root / path


def normalise_base_url(url: str, source: str) -> str:
    """Strip a trailing ``/v1``: the SDK's paths start with ``/v1`` and would double it.

    Credentials in the URL are registered for redaction here, where the URL enters the plugin.
    """
    from urllib.parse import urlsplit

    text = url.strip().rstrip("/")
    register_url_credentials(text)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"{source}: expected an http(s) URL like http://localhost:8000, got a malformed value")
    try:
        port = parts.port
    except ValueError:  # not a number, or over 65535
        port = None
    if port is None and parts.netloc.rpartition("@")[2].rpartition("]")[2].count(":"):
        raise SettingsError(f"{source}: the port after ':' is missing or not a port number (0-65535)")
    if text.endswith("/v1"):
        text = text[: -len("/v1")]
    return text


def resolve(values: RawValues, *, root: Path, api_key: str | None) -> Settings:
    """Validate every option once; the first bad value raises :class:`SettingsError`."""
    raw = {option.dest: values.get(option) for option in OPTIONS}

    def value(dest: str) -> Any:
        return raw[dest][0]

    def source(dest: str) -> str:
        return str(raw[dest][1])

    target = str(value("perf_target")).strip().lower()
    if target not in ("auto", "cloud", "emulator", "url"):
        raise SettingsError(f"{source('perf_target')}: expected one of auto, cloud, emulator, url; got {target!r}")
    base_url = value("perf_base_url")
    base_url = normalise_base_url(str(base_url), source("perf_base_url")) if base_url else None
    if target == "url" and base_url is None:
        raise SettingsError("--perf-target url: needs --perf-base-url URL")
    if target == "cloud" and not api_key:
        raise SettingsError(
            "--perf-target cloud: no API key; set CEREBRAS_API_KEY (environment or .env) or use --perf-target emulator"
        )

    gate_metrics = tuple(m.strip() for m in str(value("perf_gate_metrics")).split(",") if m.strip())
    unknown = [m for m in gate_metrics if m not in GATEABLE_METRICS]
    if unknown:
        raise SettingsError(
            f"{source('perf_gate_metrics')}: unknown metric {unknown[0]!r}; gateable: {', '.join(GATEABLE_METRICS)}"
        )
    tolerance = _positive_float(value("perf_tolerance"), source("perf_tolerance"), allow_zero=True)
    alpha = _positive_float(value("perf_alpha"), source("perf_alpha"))
    if alpha >= 0.5:
        raise SettingsError(f"{source('perf_alpha')}: must be below 0.5, got {alpha}")
    rate = value("perf_request_rate")
    model = value("model")
    scenarios = value("perf_scenarios")
    return Settings(
        iterations=_positive_int(value("iterations"), source("iterations")),
        warmup=_positive_int(value("warmup"), source("warmup"), minimum=0),
        concurrency=_concurrency(value("concurrency"), source("concurrency")),
        model=str(model).strip() if model else None,
        target=target,  # type: ignore[arg-type]
        base_url=base_url,
        scenarios_file=_path_or_none(scenarios, root) if scenarios else None,
        timeout=_positive_float(value("perf_timeout"), source("perf_timeout")),
        json_path=_path_or_none(value("perf_json"), root),
        retries=_positive_int(value("perf_retries"), source("perf_retries"), minimum=0),
        emulator_profile=str(value("perf_emulator_profile")),
        request_rate=None if rate in (None, "") else _positive_float(rate, source("perf_request_rate")),
        workers=_positive_int(value("perf_workers"), source("perf_workers")),
        max_client_lag=_positive_float(value("perf_max_client_lag"), source("perf_max_client_lag")),
        target_name=_target_name(value("perf_target_name"), source("perf_target_name")),
        save=_bool(value("perf_save")),
        accept_regression=_bool(value("perf_accept_regression")),
        baseline_dir=_path_or_none(value("perf_baseline_dir"), root) or root / "baselines",
        baseline_runs=_positive_int(value("perf_baseline_runs"), source("perf_baseline_runs")),
        tolerance=tolerance,
        alpha_suite=alpha,
        gate_metrics=gate_metrics,
        gate=not _bool(value("perf_no_gate")),
        require_baseline=_bool(value("perf_require_baseline")),
        fail_on_drift=_bool(value("perf_fail_on_drift")),
        report_path=_path_or_none(value("perf_report"), root),
        benchmark_json=_path_or_none(value("perf_benchmark_json"), root),
        seed_results_dir=_path_or_none(value("perf_seed_results"), root),
        csv_path=_path_or_none(value("perf_csv"), root),
        jsonl_path=_path_or_none(value("perf_jsonl"), root),
        percentiles=_percentiles(value("perf_percentiles"), source("perf_percentiles")),
        progress_every=_positive_float(value("perf_progress"), source("perf_progress"), allow_zero=True),
        length_fields=_length_fields(value("perf_length_fields"), source("perf_length_fields")),
        max_error_rate=_fraction(value("perf_max_error_rate"), source("perf_max_error_rate")),
        api_key=Secret(api_key) if api_key else None,
    )
