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
from .history.location import LocationError, history_url
from .metrics import METRICS
from .redact import register_secret, register_url_credentials

MIN_ACHIEVED_CONCURRENCY = 0.95
"""Default of ``--perf-min-achieved``: the share of the requested concurrency a run must hold."""

AB_KEY_ENV = "CEREBRAS_AB_API_KEY"  # A's API key in A/B mode with --perf-ab-base-url

TargetKind = Literal["auto", "cloud", "emulator", "url"]
EndpointKind = Literal["emulator", "cloud", "custom"]


class SettingsError(ValueError):
    """A bad option value; the message is one line and names its source."""


@dataclass(frozen=True, kw_only=True)
class Option:
    """One setting: its CLI flag, ini key, optional env var, default and help text."""

    flag: str
    help: str
    default: str | None = None
    env: str | None = None
    metavar: str | None = None
    is_flag: bool = False
    repeatable: bool = False  # given once per value (``--perf-ab-set a=1 --perf-ab-set b=2``)

    @property
    def dest(self) -> str:
        """The name of the value (pytest's option ``dest``, :func:`resolve`'s key): the flag's."""
        return self.flag.removeprefix("--").replace("-", "_")

    @property
    def ini(self) -> str:
        return "perf_" + self.dest.removeprefix("perf_")


OPTIONS: tuple[Option, ...] = (
    Option(
        flag="--iterations",
        help="measured iterations per scenario and concurrency level (each iteration is C concurrent requests)",
        default="10",
        env="CEREBRAS_PERF_ITERATIONS",
        metavar="N",
    ),
    Option(
        flag="--warmup",
        help="unmeasured warmup requests per in-flight slot before timing",
        default="1",
        env="CEREBRAS_PERF_WARMUP",
        metavar="N",
    ),
    Option(
        flag="--concurrency",
        help="requests in flight; a list such as 1,8,32 makes a sweep",
        default="1",
        env="CEREBRAS_PERF_CONCURRENCY",
        metavar="C[,C...]",
    ),
    Option(
        flag="--model",
        help="model id (default: the emulator's model, else the first one the endpoint lists)",
        env="CEREBRAS_PERF_MODEL",
        metavar="NAME",
    ),
    Option(
        flag="--perf-target",
        help="auto = base URL if given, else cloud if a key is set, else the built-in emulator",
        default="auto",
        env="CEREBRAS_PERF_TARGET",
        metavar="auto|cloud|emulator|url",
    ),
    Option(
        flag="--perf-base-url",
        help="any OpenAI-compatible endpoint (vLLM, SGLang, llama.cpp); a trailing /v1 is accepted",
        env="CEREBRAS_BASE_URL",
        metavar="URL",
    ),
    Option(
        flag="--perf-scenarios",
        help="scenarios file (default: scenarios.yaml next to the test module, searched upwards to rootdir)",
        metavar="FILE",
    ),
    Option(
        flag="--perf-timeout",
        help="per-request timeout in seconds; a hung request becomes an error sample",
        default="60",
        env="CEREBRAS_PERF_TIMEOUT",
        metavar="S",
    ),
    Option(
        flag="--perf-json",
        help="results JSON path (default perf-results/results-<run id>.json)",
        metavar="PATH",
    ),
    Option(
        flag="--perf-retries",
        help="retries of transient faults (5xx, drops, timeouts) per request, outside the timed interval",
        default="3",
        metavar="N",
    ),
    Option(
        flag="--perf-emulator-profile",
        help="emulator latency profile (built-in name or YAML file)",
        default=DEFAULT_PROFILE,
        env="CEREBRAS_PERF_EMULATOR_PROFILE",
        metavar="NAME|FILE",
    ),
    Option(
        flag="--request-rate",
        help="open-loop load: Poisson arrivals at R requests/s (seeded) instead of a closed loop",
        metavar="R",
    ),
    Option(
        flag="--perf-length-fields",
        help="request fields that carry a scenario's pinned output length on this target (README: what each server "
        "honours); auto = max_completion_tokens,min_completion_tokens for Cerebras and the emulator, "
        "max_completion_tokens,max_tokens,min_tokens for other endpoints",
        default="auto",
        env="CEREBRAS_PERF_LENGTH_FIELDS",
        metavar="auto|F[,F...]",
    ),
    Option(
        flag="--perf-max-error-rate",
        help="a scenario run whose share of failed requests is above this fails, with or without a baseline",
        default="0.05",
        env="CEREBRAS_PERF_MAX_ERROR_RATE",
        metavar="FRACTION",
    ),
    Option(
        flag="--perf-workers",
        help="spread in-flight requests over N client processes",
        default="1",
        metavar="N",
    ),
    Option(
        flag="--perf-ray",
        help="spread in-flight requests over Ray actors of the cluster at ADDRESS (auto = the running local "
        "cluster, ray://host:port, host:port); needs pip install 'pytest-cerebras-perf[ray]'",
        env="CEREBRAS_PERF_RAY",
        metavar="ADDRESS",
    ),
    Option(
        flag="--perf-ray-actors",
        help="client actors for --perf-ray (default: one per node with a CPU to spare)",
        metavar="N",
    ),
    Option(
        flag="--perf-max-client-lag",
        help="client event-loop lag (s, p99) above which a run is marked client-saturated and not gated; also "
        "the pre-send wait (p99) above which too few requests in flight are the client's doing",
        default="0.010",
        metavar="S",
    ),
    Option(
        flag="--perf-min-achieved",
        help="achieved concurrency (time-averaged requests in flight) below this fraction of --concurrency marks "
        "the run client-saturated and not gated, when requests also waited for the client (pre-send wait p99 "
        "above --perf-max-client-lag); with --request-rate, requests waiting over 1 - FRACTION of their "
        "time for the client do",
        default=str(MIN_ACHIEVED_CONCURRENCY),
        metavar="FRACTION",
    ),
    Option(
        flag="--perf-target-name",
        help="name of the baseline set of this endpoint (default: custom-<host><path>, the port left out)",
        env="CEREBRAS_PERF_TARGET_NAME",
        metavar="NAME",
    ),
    Option(
        flag="--perf-save",
        help="append this run to the baselines (explicit intent)",
        is_flag=True,
    ),
    Option(
        flag="--perf-accept-regression",
        help="with --perf-save: also save scenarios with a confirmed regression (the regression becomes the baseline)",
        is_flag=True,
    ),
    Option(
        flag="--perf-history",
        help="run history every session appends to: a SQLite file, a postgresql:// URL, or 'none' "
        "(default: perf-history.sqlite beside the baselines)",
        env="CEREBRAS_PERF_HISTORY",
        metavar="PATH|URL",
    ),
    Option(
        flag="--perf-fail-on-shift",
        help="fail a test whose metric has a change point in the last runs of the history (note 'shifted')",
        is_flag=True,
    ),
    Option(
        flag="--perf-baseline-dir",
        help="where baselines live",
        default="baselines",
        metavar="DIR",
    ),
    Option(
        flag="--perf-baseline-runs",
        help="accepted runs pooled as the baseline",
        default="3",
        metavar="K",
    ),
    Option(
        flag="--perf-tolerance",
        help="materiality threshold of the gate, e.g. 0.10 = 10%",
        default="0.10",
        metavar="FRACTION",
    ),
    Option(
        flag="--perf-alpha",
        help="suite-wide false-alarm budget of the confirmation stage",
        default="0.01",
        metavar="ALPHA",
    ),
    Option(
        flag="--perf-gate-metrics",
        help="metrics to gate",
        default="ttft,e2e,output_tps,server_total,error_rate",
        metavar="M[,M...]",
    ),
    Option(flag="--perf-no-gate", help="record only, gate nothing", is_flag=True),
    Option(
        flag="--perf-require-baseline",
        help="a missing baseline fails the test",
        is_flag=True,
    ),
    Option(
        flag="--perf-fail-on-drift",
        help="fail a test whose metric slid steadily across the stored baseline runs (verdict 'drifting')",
        is_flag=True,
    ),
    Option(
        flag="--perf-report",
        help="HTML report path, or 'none'",
        default="perf-report.html",
        metavar="PATH",
    ),
    Option(
        flag="--perf-benchmark-json",
        help="also export latency metrics in pytest-benchmark's JSON format",
        metavar="PATH",
    ),
    Option(
        flag="--perf-csv",
        help="also write every measured request as one CSV row (results JSON fields)",
        metavar="PATH",
    ),
    Option(
        flag="--perf-jsonl",
        help="also write every measured request as one JSON line (the results JSON's samples)",
        metavar="PATH",
    ),
    Option(
        flag="--perf-percentiles",
        help="percentiles in the terminal summary, e.g. 50,90,99",
        default="50,95,99",
        env="CEREBRAS_PERF_PERCENTILES",
        metavar="P[,P...]",
    ),
    Option(
        flag="--perf-progress",
        help="seconds between progress lines when the output is not a terminal (CI logs); 0 = none",
        default="5",
        env="CEREBRAS_PERF_PROGRESS",
        metavar="S",
    ),
    Option(
        flag="--perf-seed-results",
        help="folder for the original study's results/benchmark_results_*.json files, or 'none'",
        default="results",
        metavar="DIR",
    ),
    # -- interleaved A/B (ab.py): B is the run as configured, A differs in what these name ------
    Option(
        flag="--perf-ab-scenarios",
        help="A/B mode: A's scenarios file (e.g. the base branch's), paired with B's scenarios by name",
        metavar="FILE",
    ),
    Option(
        flag="--perf-ab-model",
        help="A/B mode: A uses this model on the same endpoint",
        metavar="NAME",
    ),
    Option(
        flag="--perf-ab-base-url",
        help=f"A/B mode: A is this endpoint (its key from {AB_KEY_ENV})",
        metavar="URL",
    ),
    Option(
        flag="--perf-ab-set",
        help="A/B mode: A's request differs in this field, e.g. reasoning_effort=low (repeatable)",
        metavar="FIELD=VALUE",
        repeatable=True,
    ),
    Option(
        flag="--perf-ab-seed",
        help="A/B mode: seed of the randomized order of A and B inside each block",
        default="0",
        metavar="N",
    ),
)

GATEABLE_METRICS = (
    *(name for name, spec in METRICS.items() if spec.gateable),
    "error_rate",  # failed requests against the baseline's rate (gate.gate_error_rate)
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
    ray_address: str | None
    ray_actors: int | None
    max_client_lag: float
    min_achieved: float
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
    history_url: str | None
    fail_on_shift: bool
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
    ab: ABSide | None = None  # interleaved A/B mode when set


@dataclass(frozen=True)
class ABSide:
    """What makes A differ from B (the run as configured) in an interleaved A/B session.

    ``request`` holds the ``--perf-ab-set`` fields, validated like scenarios.yaml's; ``api_key``
    is A's own key (``CEREBRAS_AB_API_KEY``), used only with ``base_url``.
    """

    scenarios_file: Path | None
    model: str | None
    base_url: str | None
    request: Mapping[str, Any]
    seed: int
    api_key: Secret | None = field(default=None, repr=False)

    def describe(self) -> str:
        """What A is, in the options' words: ``model llama3.1-8b, reasoning_effort=low``."""
        parts = []
        if self.scenarios_file is not None:
            parts.append(f"scenarios {self.scenarios_file}")
        if self.model is not None:
            parts.append(f"model {self.model}")
        if self.base_url is not None:
            parts.append(f"endpoint {self.base_url}")
        parts += [f"{key}={value}" for key, value in self.request.items()]
        return ", ".join(parts)


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


RAY_INSTALL = "pip install 'pytest-cerebras-perf[ray]'"


def _ray_address(raw: Any, source: str, workers: int) -> str | None:
    """``auto``, ``ray://host:port`` or ``host:port``, checked here so a typo is one line, not a Ray
    traceback; Ray itself must be importable (it is an optional extra)."""
    if raw is None or not str(raw).strip():
        return None
    address = str(raw).strip()
    if address != "auto" and not re.fullmatch(r"(ray://)?[A-Za-z0-9.\-\[\]:]+:\d{1,5}", address):
        raise SettingsError(f"{source}: expected auto, ray://host:port or host:port, got {address!r}")
    if workers > 1:
        raise SettingsError(f"{source}: Ray actors are the client workers; drop --perf-workers {workers}")
    try:
        import nacl.public  # noqa: F401
        import ray  # noqa: F401
    except ImportError as exc:
        raise SettingsError(f"{source}: needs Ray ({exc}); install it with {RAY_INSTALL}") from None
    return address


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


def _ab_request(raw: Any, source: str) -> dict[str, Any]:
    """``--perf-ab-set FIELD=VALUE`` values: a request field of scenarios.yaml, its value YAML-typed."""
    import yaml

    from .scenarios import REQUEST_FIELDS, request_field_problem

    assignments = [] if raw is None else [raw] if isinstance(raw, str) else list(raw)
    fields: dict[str, Any] = {}
    for assignment in assignments:
        name, separator, text = str(assignment).partition("=")
        name = name.strip()
        if not separator or not name:
            raise SettingsError(f"{source}: expected FIELD=VALUE such as reasoning_effort=low, got {assignment!r}")
        if name not in REQUEST_FIELDS:
            raise SettingsError(f"{source}: unknown request field {name!r}; known: {', '.join(REQUEST_FIELDS)}")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise SettingsError(f"{source}: {name}: the value {text!r} is not valid YAML") from None
        problem = request_field_problem(name, value)
        if problem is not None:
            raise SettingsError(f"{source}: {name} {problem}, got {value!r}")
        if name in fields:
            raise SettingsError(f"{source}: {name} given twice")
        fields[name] = value
    return fields


def _ab_side(
    value: Callable[[str], Any], source: Callable[[str], str], root: Path, api_key: str | None
) -> ABSide | None:
    """A's differences from B, or None when no ``--perf-ab-*`` option names any (not A/B mode)."""
    scenarios, model, url = value("perf_ab_scenarios"), value("perf_ab_model"), value("perf_ab_base_url")
    request = _ab_request(value("perf_ab_set"), source("perf_ab_set"))
    if not (scenarios or model or url or request):
        return None
    scenarios_file = _path_or_none(scenarios, root) if scenarios else None
    if scenarios_file is not None and not scenarios_file.is_file():
        raise SettingsError(f"{source('perf_ab_scenarios')}: no such file: {scenarios_file}")
    return ABSide(
        scenarios_file=scenarios_file,
        model=str(model).strip() if model else None,
        base_url=normalise_base_url(str(url), source("perf_ab_base_url")) if url else None,
        request=request,
        seed=_positive_int(value("perf_ab_seed"), source("perf_ab_seed"), minimum=0),
        api_key=Secret(api_key) if api_key else None,
    )


def _refused_in_ab_mode(settings: Settings) -> str | None:
    """Options that A/B mode cannot honour, as one line naming the option and why."""
    if settings.save:
        return (
            "--perf-save: refused in A/B mode (--perf-ab-*): an A/B session compares two variants with each "
            "other, not with stored baselines, so it saves none; run without --perf-ab-* options to save"
        )
    if settings.workers > 1:
        return "--perf-workers: A/B mode interleaves A and B on one client; run it with --perf-workers 1"
    if settings.request_rate is not None:
        return "--request-rate: A/B mode alternates A and B in closed-loop slots; drop --request-rate"
    return None


def resolve(values: RawValues, *, root: Path, api_key: str | None, ab_api_key: str | None = None) -> Settings:
    """Validate every option once; the first bad value raises :class:`SettingsError`.

    ``ab_api_key`` is A's key in A/B mode with ``--perf-ab-base-url`` (:data:`AB_KEY_ENV`).
    """
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
    rate = value("request_rate")
    workers = _positive_int(value("perf_workers"), source("perf_workers"))
    actors = value("perf_ray_actors")
    model = value("model")
    baseline_dir = _path_or_none(value("perf_baseline_dir"), root) or root / "baselines"
    try:
        history = history_url(
            value("perf_history"), baseline_dir=baseline_dir, root=root, source=source("perf_history")
        )
    except LocationError as exc:
        raise SettingsError(str(exc)) from None
    scenarios = value("perf_scenarios")
    settings = Settings(
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
        request_rate=None if rate in (None, "") else _positive_float(rate, source("request_rate")),
        workers=workers,
        ray_address=_ray_address(value("perf_ray"), source("perf_ray"), workers),
        ray_actors=None if actors in (None, "") else _positive_int(actors, source("perf_ray_actors")),
        max_client_lag=_positive_float(value("perf_max_client_lag"), source("perf_max_client_lag")),
        min_achieved=_fraction(value("perf_min_achieved"), source("perf_min_achieved")),
        target_name=_target_name(value("perf_target_name"), source("perf_target_name")),
        save=_bool(value("perf_save")),
        accept_regression=_bool(value("perf_accept_regression")),
        baseline_dir=baseline_dir,
        baseline_runs=_positive_int(value("perf_baseline_runs"), source("perf_baseline_runs")),
        tolerance=tolerance,
        alpha_suite=alpha,
        gate_metrics=gate_metrics,
        gate=not _bool(value("perf_no_gate")),
        require_baseline=_bool(value("perf_require_baseline")),
        fail_on_drift=_bool(value("perf_fail_on_drift")),
        history_url=history,
        fail_on_shift=_bool(value("perf_fail_on_shift")),
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
        ab=_ab_side(value, source, root, ab_api_key),
    )
    refusal = _refused_in_ab_mode(settings) if settings.ab is not None else None
    if refusal is not None:
        raise SettingsError(refusal)
    return settings


def defaults(root: Path) -> Settings:
    """Every setting at its default from :data:`OPTIONS`, as a run with no option would have it
    (for tools and benchmarks that need the plugin's defaults without restating them)."""
    return resolve(RawValues(lambda dest: None, lambda key: None, {}), root=root, api_key=None)
