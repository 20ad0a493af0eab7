"""Baseline files: the accepted runs a new run is gated against (docs/results-format.md, "Baselines").

One JSON file per target and model, ``baselines/<target key>/<model>.json``, holding the RAW
samples of the last few accepted runs per scenario, so the gate can pool them and estimate the
run-to-run drift. The file is meant to be committed and reviewed: sorted keys, two-space indent,
floats rounded to 9 significant digits, so saving the same runs twice gives the same bytes and a
new baseline is a readable diff. Writes are atomic (:func:`files.write_atomic`) and never replace
a file this module cannot read: a corrupt baseline is an error, not something to overwrite.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import numpy as np
from filelock import FileLock, Timeout

from .files import write_atomic
from .gate import StoredRun
from .metrics import METRICS, PLAUSIBLE_LIMIT

SCHEMA = "cerebras-perf-baseline/1"
_SCHEMA_PREFIX = "cerebras-perf-baseline/"
_SCHEMA_VERSION = 1
_SIGNIFICANT_DIGITS = 9
#: accepted runs kept per scenario: the history τ and the trend are estimated from
HISTORY_RUNS = 20
#: the most baseline samples the gate pools (all K runs are kept, each subsampled evenly)
POOL_CAP = 100


class BaselineError(Exception):
    """A baseline file that cannot be used; the message is one line and names the file."""


@dataclass(frozen=True)
class BaselineRun:
    """One accepted run of one scenario: raw samples per metric plus what it was measured with."""

    run_id: str
    accepted: str  # ISO-8601
    commit: str | None
    iterations: int
    samples: dict[str, list[float]]
    error_rate: float
    max_completion_tokens: int | None = None
    plugin_version: str | None = None
    sdk_version: str | None = None
    system_fingerprints: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "accepted": self.accepted,
            "commit": self.commit,
            "iterations": self.iterations,
            "samples": {metric: list(values) for metric, values in self.samples.items()},
            "error_rate": self.error_rate,
            "max_completion_tokens": self.max_completion_tokens,
            "plugin_version": self.plugin_version,
            "sdk_version": self.sdk_version,
            "system_fingerprints": list(self.system_fingerprints),
        }


@dataclass(frozen=True)
class ScenarioBaseline:
    """The accepted runs of one ``<scenario>@c<concurrency>``, oldest first, and its tolerances."""

    runs: tuple[BaselineRun, ...]
    tolerances: dict[str, Any]

    def pooled_runs(self, metric: str, *, keep: int) -> list[list[float]]:
        """The samples of ``metric`` from the last ``keep`` runs (``--perf-baseline-runs``), oldest first,
        at most :data:`POOL_CAP` in total.

        Runs stay separate so the gate can see run-to-run drift. When the cap bites, every run is
        subsampled evenly across its length (equal shares, at least 2 samples each): dropping whole
        runs would leave the gate one or two runs and its drift prior. Runs that never recorded
        the metric are left out.
        """
        chosen = [run.samples[metric] for run in self.runs[-keep:] if keep > 0 and run.samples.get(metric)]
        if not chosen:
            return []
        share = max(2, POOL_CAP // len(chosen))
        return [_evenly(values, share) for values in chosen]

    def history(self, metric: str) -> list[StoredRun]:
        """Every stored run of ``metric`` (up to :data:`HISTORY_RUNS`), oldest first, with its acceptance time."""
        return [
            StoredRun(tuple(run.samples[metric]), _posix(run.accepted)) for run in self.runs if run.samples.get(metric)
        ]

    def error_rates(self, keep: int) -> list[float]:
        return [run.error_rate for run in (self.runs[-keep:] if keep > 0 else ())]


def _evenly(values: list[float], size: int) -> list[float]:
    """At most ``size`` values spread evenly over the run (first and last kept), in their order."""
    if len(values) <= size:
        return list(values)
    picks = np.linspace(0, len(values) - 1, size).round().astype(int)
    return [values[i] for i in picks]


def _posix(accepted: str) -> float | None:
    """An ISO-8601 acceptance time as POSIX seconds (naive means UTC), None if it does not parse."""
    try:
        moment = dt.datetime.fromisoformat(accepted)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()


@dataclass(frozen=True)
class Baseline:
    path: Path
    target: dict[str, Any]
    model: str
    scenarios: dict[str, ScenarioBaseline]


def baseline_path(directory: Path, target_key: str, model: str) -> Path:
    """``<directory>/<target key>/<model>.json`` with both parts made safe as single file names."""
    return Path(directory) / _file_name(target_key, "target key") / f"{_file_name(model, 'model')}.json"


def _file_name(name: str, what: str) -> str:
    """Characters other than letters, digits, ``.``, ``_`` and ``-`` become ``_`` (``/`` too)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    if not safe:
        raise ValueError(f"{what} {name!r} gives no usable file name")
    return safe


def load_baseline(path: Path, *, target: Mapping[str, Any], model: str) -> Baseline | None:
    """The baseline at ``path``, or None if there is none yet.

    Raises :class:`BaselineError` for a corrupt or truncated file, a newer schema, or a file
    recorded for another target or model: such a baseline is never compared.
    """
    path = Path(path)
    read = _read(path, target, model)
    if read is None:
        return None
    document, scenarios = read
    return Baseline(path=path, target=dict(document["target"]), model=model, scenarios=scenarios)


P = ParamSpec("P")
R = TypeVar("R")
# How long a save waits for another process's save of the same file before giving up.
LOCK_TIMEOUT_S = 60.0


def lock_path(path: Path) -> Path:
    """The advisory lock beside a baseline file (hidden, so it is not mistaken for a baseline)."""
    return path.with_name(f".{path.name}.lock")


def _under_lock(save: Callable[P, R]) -> Callable[P, R]:
    """Run a read-modify-write of the baseline file (the first argument) under its advisory lock:
    two runs saving at once would otherwise both read the old file and the second would drop the
    first one's accepted run."""

    @functools.wraps(save)
    def locked(*args: P.args, **kwargs: P.kwargs) -> R:
        path = Path(args[0])  # type: ignore[arg-type]
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with FileLock(lock_path(path), timeout=LOCK_TIMEOUT_S):
                return save(*args, **kwargs)
        except Timeout:
            raise BaselineError(
                f"{path}: another run held its lock {lock_path(path)} for {LOCK_TIMEOUT_S:g} s; not saved"
            ) from None

    return locked


@_under_lock
def save_runs(
    path: Path,
    *,
    target: Mapping[str, Any],
    model: str,
    runs: Mapping[str, BaselineRun],
    tolerances: Mapping[str, Mapping[str, Any]],
    history: int = HISTORY_RUNS,
) -> None:
    """Append ``runs`` (scenario id -> run) to the file, keeping the last ``history`` runs per scenario.

    Read-modify-write: other scenarios and unknown keys are kept as they are; a file that cannot
    be read raises :class:`BaselineError` and is left untouched. ``tolerances`` records the
    effective overrides per scenario id, for the reader of the file.
    """
    if history < 1:
        raise ValueError(f"history must keep at least one run, got {history}")
    path = Path(path)
    read = _read(path, target, model)
    document: dict[str, Any] = read[0] if read else {"schema": SCHEMA, "target": _plain(target), "model": model}
    scenarios: dict[str, Any] = document.setdefault("scenarios", {})
    for scenario_id, run in runs.items():
        entry = scenarios.setdefault(scenario_id, {"runs": [], "tolerances": {}})
        entry["runs"] = [*entry["runs"], run.to_json()][-history:]
        if scenario_id in tolerances:
            entry["tolerances"] = _plain(tolerances[scenario_id])
    try:
        text = json.dumps(_stable(document), sort_keys=True, indent=2, allow_nan=False, ensure_ascii=False)
    except ValueError as exc:
        raise ValueError(f"{path}: cannot save a non-finite value in a baseline ({exc})") from exc
    write_atomic(path, _one_line_number_lists(text) + "\n")


# -- reading and checking ----------------------------------------------------------------------


class _Malformed(Exception):
    """A part of the document has the wrong shape; the message says where."""


def _read(
    path: Path, target: Mapping[str, Any], model: str
) -> tuple[dict[str, Any], dict[str, ScenarioBaseline]] | None:
    """The raw document and its parsed scenarios after every check, or None if there is no file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"{path}: cannot read the baseline file ({exc})") from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(
            f"{path}: corrupt or truncated baseline file ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
            "restore it from version control or delete it to start a new baseline"
        ) from exc
    if not isinstance(document, dict):
        raise BaselineError(f"{path}: corrupt baseline file (the top level is not a JSON object)")
    _check_schema(path, document.get("schema"))
    try:
        stored_target = _expect(document.get("target"), dict, "target")
        stored_model = _expect(document.get("model"), str, "model")
        scenarios = _scenarios_from_json(document.get("scenarios"))
    except _Malformed as exc:
        raise BaselineError(f"{path}: corrupt baseline file ({exc})") from exc
    if stored_target != _plain(target) or stored_model != model:
        raise BaselineError(
            f"{path}: recorded for target {json.dumps(stored_target, sort_keys=True)} and model "
            f"{stored_model!r}, not target {json.dumps(_plain(target), sort_keys=True)} and model "
            f"{model!r}; it is never compared with this run (choose another --perf-baseline-dir)"
        )
    return document, scenarios


def _check_schema(path: Path, schema: Any) -> None:
    version = None
    if isinstance(schema, str) and schema.startswith(_SCHEMA_PREFIX):
        suffix = schema[len(_SCHEMA_PREFIX) :]
        version = int(suffix) if suffix.isdigit() else None
    if version is None:
        raise BaselineError(f"{path}: not a pytest-cerebras-perf baseline (schema {schema!r}, expected {SCHEMA})")
    if version > _SCHEMA_VERSION:
        raise BaselineError(
            f"{path} was written by schema {schema}; this plugin reads {SCHEMA} — upgrade pytest-cerebras-perf"
        )
    if version < _SCHEMA_VERSION:
        raise BaselineError(f"{path}: schema {schema} is older than {SCHEMA} and cannot be read")


def _scenarios_from_json(raw: Any) -> dict[str, ScenarioBaseline]:
    """Every scenario that has accepted runs: an entry with ``"runs": []`` (emptied by hand) is no
    baseline for that scenario, as if it were absent; saving appends to it as usual."""
    parsed = {
        scenario_id: _scenario_from_json(entry, f"scenarios.{scenario_id}")
        for scenario_id, entry in _expect(raw, dict, "scenarios").items()
    }
    return {scenario_id: baseline for scenario_id, baseline in parsed.items() if baseline.runs}


def _scenario_from_json(raw: Any, where: str) -> ScenarioBaseline:
    entry = _expect(raw, dict, where)
    runs = _expect(entry.get("runs"), list, f"{where}.runs")
    return ScenarioBaseline(
        runs=tuple(_run_from_json(run, f"{where}.runs[{index}]") for index, run in enumerate(runs)),
        tolerances=dict(_expect(entry.get("tolerances", {}), dict, f"{where}.tolerances")),
    )


def _run_from_json(raw: Any, where: str) -> BaselineRun:
    run = _expect(raw, dict, where)
    samples = _expect(run.get("samples"), dict, f"{where}.samples")
    return BaselineRun(
        run_id=_expect(run.get("run_id"), str, f"{where}.run_id"),
        accepted=_expect(run.get("accepted"), str, f"{where}.accepted"),
        commit=_optional(run.get("commit"), str, f"{where}.commit"),
        iterations=_count(run.get("iterations"), f"{where}.iterations"),
        samples={metric: _samples(metric, values, f"{where}.samples.{metric}") for metric, values in samples.items()},
        error_rate=_number(run.get("error_rate"), f"{where}.error_rate", low=0.0, high=1.0),
        max_completion_tokens=_optional(run.get("max_completion_tokens"), int, f"{where}.max_completion_tokens"),
        plugin_version=_optional(run.get("plugin_version"), str, f"{where}.plugin_version"),
        sdk_version=_optional(run.get("sdk_version"), str, f"{where}.sdk_version"),
        system_fingerprints=tuple(
            _expect(f, str, f"{where}.system_fingerprints[]")
            for f in _expect(run.get("system_fingerprints", []), list, f"{where}.system_fingerprints")
        ),
    )


def _expect(value: Any, kind: type[Any], where: str) -> Any:
    # bool is an int in Python; a baseline with "iterations": true is still corrupt
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Malformed(f"{where} should be {kind.__name__}, found {type(value).__name__}")
    return value


def _optional(value: Any, kind: type[Any], where: str) -> Any:
    return None if value is None else _expect(value, kind, where)


def _count(value: Any, where: str) -> int:
    count: int = _expect(value, int, where)
    if count < 0:
        raise _Malformed(f"{where} should be >= 0, found {count}")
    return count


def _number(value: Any, where: str, *, low: float = -math.inf, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _Malformed(f"{where} should be a finite number, found {value!r}")
    if not low <= value <= high:
        raise _Malformed(f"{where} should be between {low:g} and {high:g}, found {value!r}")
    return float(value)


def _samples(metric: str, values: Any, where: str) -> list[float]:
    """A metric's values within what it can be: no negative duration, nothing past its unit's
    ``PLAUSIBLE_LIMIT``. A metric this version does not know is only checked to be finite."""
    spec = METRICS.get(metric)
    high = PLAUSIBLE_LIMIT[spec.unit] if spec else math.inf
    low = -high if spec is None or spec.signed else 0.0
    items = _expect(values, list, where)
    return [_number(value, f"{where}[{index}]", low=low, high=high) for index, value in enumerate(items)]


# -- stable output ------------------------------------------------------------------------------


_NUMBER_LIST = re.compile(r"\[\s*(-?[0-9][0-9eE.+\-]*(?:,\s*-?[0-9][0-9eE.+\-]*)*)\s*\]")


def _one_line_number_lists(text: str) -> str:
    """Each run's samples of a metric on one line: a new baseline run reads as a short diff."""
    return _NUMBER_LIST.sub(lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text)


def _plain(value: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON round trip: tuples become lists, so what is compared is what the file holds."""
    plain: dict[str, Any] = json.loads(json.dumps(value))
    return plain


def _stable(value: Any) -> Any:
    """Floats rounded to 9 significant digits, recursively (idempotent: a second save changes nothing)."""
    if isinstance(value, float):
        return float(f"{value:.{_SIGNIFICANT_DIGITS}g}") if math.isfinite(value) else value
    if isinstance(value, dict):
        return {key: _stable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_stable(item) for item in value]
    return value
