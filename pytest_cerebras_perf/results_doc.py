"""The results document's one typed shape, and the one way to write it and read it back.

Everything that writes the results JSON (``results.py`` through ``Sample.to_json``,
``Verdict.to_json``, ``load.aggregate`` and :func:`~.stats.summarize`) and everything that reads it
(the HTML report, the Markdown summary, the exports, the per-request files) uses these types, so a key
renamed on one side is a type error on the other instead of a blank cell in a report. The format is
described for users in docs/results-format.md.

Keys marked ``NotRequired`` are written by every current run but were added to the format after
files of it were already on disk; readers treat a missing one as "not recorded". Every other key was
written by the first version's writer already, so a reader may rely on it in any file. Unknown keys
are kept on load (``extra="allow"``): a newer writer's additions survive an older reader's round trip.

A metric's summary is the frozen :class:`Summary` (:func:`~.stats.summarize`), not a copy of its fields: in memory the
document holds the same object that ``cerebras_call()`` hands a test (``run.ttft.p50``), and
:func:`dump` writes it as a JSON object.

Versions: ``cerebras-perf-results/2`` renamed the aggregate's ``output_tps`` (the run's tokens per
second over its window) to ``aggregate_output_tps``, so it no longer shares a name with the
per-request metric. ``/3`` moved the client's self-check into ``aggregate.client``
(:class:`ClientCheckDoc`), apart from the figures of the endpoint. :func:`load` reads ``/1`` and ``/2``
files too, upgrading them as it reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Literal

from pydantic import ConfigDict, TypeAdapter, ValidationError, with_config
from typing_extensions import NotRequired, TypedDict

SCHEMA = "cerebras-perf-results/3"

_OPEN = ConfigDict(extra="allow")

VerdictKind = Literal[
    "pass",
    "regression",
    "improvement",
    "inconclusive",
    "no-baseline",
    "not-gated",
    "underpowered",  # a pass whose MDE exceeds its tolerance: it could not have seen the regression
    "drifting",  # no regression against the rolling baseline, but a material trend across the stored runs
]
TauSource = Literal["history", "prior"]


@dataclass(frozen=True)
class Summary:
    """One metric over one run's samples (:func:`~.stats.summarize`): n, mean, sample standard
    deviation (ddof=1; 0.0 for a single value), extremes, percentiles, CV. It is what a test gets
    from ``cerebras_call()`` (``run.ttft.p90``) and what the document holds under ``summary``.

    ``cv`` is std/mean, the relative noise that decides what the gate can see; it is ``None``
    when the mean is 0 because a ratio to zero means nothing.
    """

    n: int
    mean: float
    std: float
    min: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float
    cv: float | None


@with_config(_OPEN)
class ErrorDoc(TypedDict):
    """Why a request failed after its retries (``kind``: rate_limit, timeout, server, ...)."""

    kind: str
    status: int | None
    message: str


@with_config(_OPEN)
class ServerDoc(TypedDict):
    """The endpoint's ``time_info`` in seconds; ``rejected`` names values that were no measurement."""

    queue_time: float | None
    prompt_time: float | None
    completion_time: float | None
    total_time: float | None
    rejected: NotRequired[list[str]]
    source: NotRequired[Literal["time_info", "timings"] | None]  # time_info (Cerebras) or llama.cpp's timings


@with_config(_OPEN)
class UsageDoc(TypedDict):
    """Token counts as the endpoint sent them; one it did not send is null (never 0). ``source``:
    ``usage``, llama.cpp's ``timings``, or ``chunks`` (counted from content chunks)."""

    prompt_tokens: int | None
    completion_tokens: int
    total_tokens: int | None
    cached_tokens: int | None
    counted_from_chunks: bool
    source: NotRequired[Literal["usage", "timings", "chunks"]]
    reasoning_tokens: NotRequired[int | None]
    reasoning_estimated: NotRequired[bool]
    content_tokens: NotRequired[int | None]
    completion_tokens_details: NotRequired[dict[str, object] | None]


@with_config(_OPEN)
class ResponseDoc(TypedDict):
    service_tier: str | None
    system_fingerprint: str | None
    finish_reason: str | None
    reasoning_field: NotRequired[str | None]  # reasoning (Cerebras) or reasoning_content (llama.cpp, vLLM, SGLang)


@with_config(_OPEN)
class SampleDoc(TypedDict):
    """One request (:class:`~pytest_cerebras_perf.metrics.Sample`); a failed one has no timings."""

    ok: bool
    error: ErrorDoc | None
    retries: int
    ttfb: float | None
    ttft: float | None
    e2e: float | None
    tpot: float | None
    output_tps: float | None
    server: ServerDoc
    server_output_tps: float | None
    network_overhead: float | None
    network_overhead_pct: float | None
    usage: UsageDoc | None
    request_id: str | None
    decode_time: float | None
    itl: list[float]
    latency_from_schedule: float | None
    content: str
    ttfo: NotRequired[float | None]
    response: NotRequired[ResponseDoc]


Saturation = Literal["event_loop", "pre_send", "worker"]
"""Why the client was saturated (``load.aggregate`` says how each is judged)."""


@with_config(_OPEN)
class ClientCheckDoc(TypedDict):
    """The client's self-check over the run (``load.aggregate``): whether its own figures still describe
    the endpoint. ``saturated`` runs are neither gated nor saved; ``saturation`` says why. ``lag`` is
    the worse p99 of the event loop's wake-up lag and the pre-send wait (how long requests waited for
    the client before reaching the socket); ``dispatch_share`` the share of the requests' lives spent
    in that wait; ``saturated_workers`` the client workers whose own self-check failed."""

    saturated: bool
    saturation: NotRequired[Saturation | None]
    lag: float
    lag_max: float
    loop_lag_p99: float
    pre_send_wait_p50: NotRequired[float | None]
    pre_send_wait_p99: NotRequired[float | None]
    dispatch_share: NotRequired[float]
    saturated_workers: NotRequired[list[str]]
    cpu_seconds: NotRequired[float]
    cpu_per_1k_tokens: NotRequired[float | None]


@with_config(_OPEN)
class Aggregate(TypedDict):
    """Figures of the run as a whole, over its window (first send to last byte), and the client's
    self-check (``load.aggregate``). ``aggregate_output_tps`` is every completion token of the run
    over the window: with 8 requests in flight it is about 8 × the per-request ``output_tps``.
    ``achieved_concurrency`` is the load the endpoint saw (``load.achieved_concurrency``), next to
    the ``requested_concurrency`` (None in an open loop)."""

    aggregate_output_tps: float | None
    request_throughput: float | None
    window: float
    error_rate: float
    client: ClientCheckDoc
    requests: int
    ok: int
    errors: int
    retries: int
    mean_in_flight: NotRequired[float | None]
    requested_concurrency: NotRequired[int | None]
    achieved_concurrency: NotRequired[float | None]


@with_config(_OPEN)
class GateDoc(TypedDict):
    """One gate decision (:class:`~pytest_cerebras_perf.gate.Verdict`); docs/gate.md says how it is made."""

    metric: str
    verdict: VerdictKind
    stage: int
    baseline_p50: float | None
    current_p50: float | None
    ratio: float | None
    ratio_bound: float | None
    tolerance: float
    p_value: float | None
    mde: float | None
    alpha: float | None
    tau: float | None
    tau_source: TauSource | None
    n: int
    m: int
    baseline_runs: int
    higher_is_better: bool
    note: str
    stage1: GateDoc | None
    iterations_needed: NotRequired[int | None]
    trend: NotRequired[float | None]
    trend_p_value: NotRequired[float | None]
    trend_runs: NotRequired[int]
    dropped: NotRequired[int]
    tau_runs: NotRequired[int]
    floor_disabled: NotRequired[bool]
    fails: NotRequired[bool]
    shifted: NotRequired[str | None]  # a change point in the run history's last runs (history/trends.py)


@with_config(_OPEN)
class BaselineDoc(TypedDict):
    """The baseline samples the gate compared with: ``runs`` stored runs, pooled as the gate pooled them."""

    runs: int
    samples: dict[str, list[float]]
    stored_runs: NotRequired[int]


# -- interleaved A/B (ab.py) and two saved runs compared (compare.py) -----------------------------


@with_config(_OPEN)
class ABSideDoc(TypedDict):
    """One side of an A/B scenario run: its model, endpoint and request (every field but the
    messages). A's side also holds its samples; B's samples are the scenario entry's own."""

    model: str | None
    base_url: str | None
    request: dict[str, object]
    scenario_source: NotRequired[str]
    prompt: NotRequired[str]
    samples: NotRequired[list[SampleDoc]]
    summary: NotRequired[dict[str, Summary | None]]
    aggregate: NotRequired[Aggregate]


@with_config(_OPEN)
class ABScenarioDoc(TypedDict):
    """A scenario run of an A/B session: ``pairs`` holds (A sample index, B sample index) per block."""

    design: str
    blocks: int
    seed: int
    pairs: list[list[int]]
    a: ABSideDoc
    b: ABSideDoc


@with_config(_OPEN)
class ABOptionsDoc(TypedDict):
    """What made A differ from B, in the ``--perf-ab-*`` options' terms (``set``: ``--perf-ab-set``)."""

    scenarios_file: str | None
    model: str | None
    base_url: str | None
    set: dict[str, object]


@with_config(_OPEN)
class ABRunDoc(TypedDict):
    """The session was interleaved A/B: its design, blocks over all scenario runs, and what A was."""

    design: str
    blocks: int
    seed: int
    a: ABOptionsDoc
    describe: str


@with_config(_OPEN)
class CompareSideDoc(TypedDict):
    run: str | None
    target: TargetDoc


@with_config(_OPEN)
class CompareDoc(TypedDict):
    """A document written by compare.py: B's runs gated against A's (another session, drift prior ``tau_prior``)."""

    a: CompareSideDoc
    b: CompareSideDoc
    tau_prior: float
    describe: str


@with_config(_OPEN)
class ScenarioEntry(TypedDict):
    """One scenario at one concurrency, as one test measured it (``id`` is ``<scenario>@c<concurrency>``)."""

    id: str
    name: str
    concurrency: int
    nodeid: str
    samples: list[SampleDoc]
    summary: dict[str, Summary | None]
    aggregate: Aggregate
    gate: list[GateDoc]
    description: str
    prompt: str
    max_completion_tokens: int | None
    min_completion_tokens: int | None
    complete: bool
    stopped: str | None
    baseline: BaselineDoc | None
    confirmation_samples: int
    warnings: list[str]
    prompt_cache: NotRequired[Literal["warm", "cold"]]
    slo: NotRequired[dict[str, float] | None]
    goodput: NotRequired[float | None]
    e2e_cause: NotRequired[str | None]
    system_fingerprints: NotRequired[list[str]]
    ab: NotRequired[ABScenarioDoc]  # A/B mode only


@with_config(_OPEN)
class CommitDoc(TypedDict):
    """pytest-benchmark's commit info (git or hg) of the measured project."""

    id: str
    time: NotRequired[str | None]
    author_time: NotRequired[str | None]
    dirty: NotRequired[bool]
    project: NotRequired[str]
    branch: NotRequired[str]


@with_config(_OPEN)
class RunDoc(TypedDict):
    id: str
    started: str
    finished: str
    partial: bool
    plugin_version: str
    sdk_version: str
    python: str
    commit: CommitDoc | None
    partial_reason: str | None
    platform: str
    argv: list[str]


@with_config(_OPEN)
class TargetDoc(TypedDict):
    """The endpoint (never its API key or URL credentials) and the model measured."""

    kind: str | None
    base_url: str | None
    model: str | None
    emulator_profile: NotRequired[str | None]
    baseline_set: NotRequired[str | None]
    dialect: NotRequired[str | None]  # dialect.describe: what the responses showed and left out
    length_fields: NotRequired[list[str] | None]  # the request fields a pinned output length was sent in


@with_config(_OPEN)
class SettingsDoc(TypedDict):
    iterations: int
    warmup: int
    concurrency: list[int]
    request_rate: float | None
    gate_metrics: list[str]
    tolerance: float
    alpha_suite: float
    timeout: float


@with_config(_OPEN)
class TrendPointDoc(TypedDict):
    """One run of a trend: its number in the history, its centre (the gate's trimmed log-centre)
    and that centre's standard error on the log scale."""

    run: int
    run_id: str
    started: str
    centre: float
    spread: float | None
    accepted: bool
    current: bool
    fingerprint_changed: bool


@with_config(_OPEN)
class ChangePointDoc(TypedDict):
    index: int  # into the trend's points: the first run of the new level
    run_id: str
    change: float  # relative change of the mean, before to after
    p_value: float


@with_config(_OPEN)
class TrendDoc(TypedDict):
    scenario: str
    metric: str
    points: list[TrendPointDoc]
    change_points: list[ChangePointDoc]
    shifted: str | None


@with_config(_OPEN)
class HistoryDoc(TypedDict):
    """Where the run went in the run history, and the trends read back from it."""

    database: str  # a file path, or a server URL without credentials
    run: int
    change_points: str  # the algorithm, or how to install it
    trends: list[TrendDoc]


@with_config(_OPEN)
class ResultsDoc(TypedDict):
    schema: str
    run: RunDoc
    target: TargetDoc
    settings: SettingsDoc
    scenarios: list[ScenarioEntry]
    ab: NotRequired[ABRunDoc]  # A/B mode only
    compare: NotRequired[CompareDoc]  # written by compare.py only
    history: NotRequired[HistoryDoc]


class ResultsFormatError(ValueError):
    """A document that is not a results document of a version we read; the message is one line."""


_ADAPTER: TypeAdapter[ResultsDoc] = TypeAdapter(ResultsDoc)


def dump(doc: ResultsDoc) -> str:
    """The document as strict JSON (no NaN: a value that cannot be written is an error here, not a broken file)."""
    return json.dumps(doc, indent=2, sort_keys=False, allow_nan=False, default=_encode) + "\n"


def _encode(value: object) -> object:
    """JSON for what :mod:`json` cannot write itself: a :class:`Summary` as its fields, anything else as text."""
    if isinstance(value, Summary):
        return asdict(value)
    return str(value)


def _aggregates(raw: dict[str, object]) -> Iterator[dict[str, object]]:
    """Every aggregate of a raw document: each scenario entry's, and A's side of an A/B entry."""
    scenarios = raw.get("scenarios")
    for scenario in scenarios if isinstance(scenarios, list) else []:
        if not isinstance(scenario, dict):
            continue
        ab = scenario.get("ab")
        a_side = ab.get("a") if isinstance(ab, dict) else None
        for holder in (scenario, a_side):
            aggregate = holder.get("aggregate") if isinstance(holder, dict) else None
            if isinstance(aggregate, dict):
                yield aggregate


def _from_v1(raw: dict[str, object]) -> None:
    """Version 1 called the aggregate tokens/s ``output_tps``."""
    for aggregate in _aggregates(raw):
        if "output_tps" in aggregate:
            aggregate["aggregate_output_tps"] = aggregate.pop("output_tps")


_CLIENT_CHECK_KEYS_V2 = {
    "client_saturated": "saturated",
    "saturation": "saturation",
    "client_lag": "lag",
    "client_lag_max": "lag_max",
    "loop_lag_p99": "loop_lag_p99",
    "pre_send_wait_p50": "pre_send_wait_p50",
    "pre_send_wait_p99": "pre_send_wait_p99",
    "dispatch_share": "dispatch_share",
    "saturated_clients": "saturated_workers",
    "client_cpu_seconds": "cpu_seconds",
    "client_cpu_per_1k_tokens": "cpu_per_1k_tokens",
}
"""Version 2's flat aggregate keys of the client's self-check, and their names in ``aggregate.client``."""


def _from_v2(raw: dict[str, object]) -> None:
    """Version 2 kept the client's self-check flat in the aggregate."""
    for aggregate in _aggregates(raw):
        if "client" not in aggregate:
            moved = {new: aggregate.pop(old) for old, new in _CLIENT_CHECK_KEYS_V2.items() if old in aggregate}
            aggregate["client"] = moved  # a file without client_saturated is refused by name, not guessed


_UPGRADES: dict[str, tuple[Callable[[dict[str, object]], None], ...]] = {
    "cerebras-perf-results/1": (_from_v1, _from_v2),
    "cerebras-perf-results/2": (_from_v2,),
    SCHEMA: (),
}
"""Each version read, and the steps that bring it to :data:`SCHEMA`, oldest first."""


def load(text: str) -> ResultsDoc:
    """The document in ``text``, upgraded to the current version; :class:`ResultsFormatError` names
    the first field that does not fit (``scenarios[2].samples[0].ttft: Input should be a valid number``)."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise ResultsFormatError(f"not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})") from None
    if not isinstance(raw, dict):
        raise ResultsFormatError(f"expected a JSON object, found {type(raw).__name__}")
    upgrades = _UPGRADES.get(raw.get("schema"))  # type: ignore[arg-type]
    if upgrades is None:
        readable = ", ".join(repr(version) for version in _UPGRADES)
        raise ResultsFormatError(f"schema is {raw.get('schema')!r}, expected one of {readable}")
    for upgrade in upgrades:
        upgrade(raw)
    raw["schema"] = SCHEMA
    try:
        return _ADAPTER.validate_json(json.dumps(raw), strict=True)
    except ValidationError as error:
        first = error.errors()[0]
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"]).lstrip(".")
        more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
        raise ResultsFormatError(f"{where or 'document'}: {first['msg']}{more}") from None
