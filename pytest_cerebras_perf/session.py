"""The measuring session: endpoint, clients, baselines and every scenario run, from first test to files.

``plugin.py`` only forwards pytest's hooks here, so everything below can be driven by unit and
pytester tests without pytest internals.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import ab
from .baselines import Baseline, baseline_path, load_baseline
from .capacity import SPARE, in_flight_capacity
from .cause import e2e_cause
from .dialect import cache_warning, length_fields, length_mismatch, pin_length, token_count_warnings
from .fingerprint import fingerprint_warnings
from .gate import GatePolicy
from .gating import gate_run, suite_taus, tau_prior
from .history.store import HistoryError, HistoryStore
from .history.trends import ShiftWatch
from .load import Arm, Harness, LoadPlan, LoadResult, aggregate, run_interleaved, run_measured, warm
from .metrics import Sample, rejected_server_times
from .records import ScenarioRecord, record_id
from .results_doc import CommitDoc
from .retry import DailyQuotaExceeded, RetryPolicy
from .runner import LoopThread
from .saturation import saturation_warning
from .scenarios import Scenario
from .settings import ABSide, Settings, choose_kind
from .target import Endpoint, TargetError, default_model, endpoint_for, list_models, new_emulator_key
from .workers import ClientPool, PoolSpec, WorkerLost, WorkerPool


def commit_info(root: Path) -> CommitDoc | None:
    """pytest-benchmark's commit helper (git or hg), or None outside a repository."""
    from pytest_benchmark.utils import get_commit_info

    info = get_commit_info(str(root))  # type: ignore[no-untyped-call]
    if not isinstance(info, dict) or not info.get("id"):
        return None
    return {
        "id": str(info["id"]),
        "time": info.get("time"),
        "author_time": info.get("author_time"),
        "dirty": bool(info.get("dirty")),
        "project": str(info.get("project")),
        "branch": str(info.get("branch")),
    }


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class Measured:
    """What a session measured and how it ended: all a pytest-xdist worker hands to its controller."""

    records: list[ScenarioRecord]
    model: str | None
    partial_reason: str | None
    quota_stop: str | None
    notes: list[str]


class PerfSession:
    """One pytest session's measuring: the endpoint and its client, the baseline, and a
    :class:`ScenarioRecord` for every scenario × concurrency a test measured.

    It lives from the first measuring test to the last file written (``artifacts.write_all``); a
    pytest-xdist worker hands what it measured to its controller (:meth:`measured`,
    :meth:`absorb`). State other modules may change goes through methods that say why
    (:meth:`mark_partial`), so a partial run cannot be marked complete again by accident.
    """

    def __init__(self, settings: Settings, *, root: Path, n_gates: int = 1) -> None:
        self.settings = settings
        self.root = root
        self.run_id = dt.datetime.now().strftime("%Y%m%d_%H%M%S") + "-" + uuid.uuid4().hex[:6]
        self.started = now_iso()
        self.records: list[ScenarioRecord] = []
        self.partial_reason: str | None = None
        self.notes: list[str] = []
        self.quota_stop: str | None = None
        self.n_gates = max(1, n_gates)
        self.endpoint: Endpoint | None = None
        self.model: str | None = None
        self.baseline: Baseline | None = None
        self._emulator: Any = None
        self._loop: LoopThread | None = None
        self._harness: Harness | None = None
        self._pool = 0  # connections the harness may open (capacity.py)
        self._workers: ClientPool | None = None
        self.commit: CommitDoc | None = None
        self._ab_harness: Harness | None = None  # A's client when A is another endpoint
        self._ab_endpoint: Endpoint | None = None
        self._ab_model: str | None = None
        self._ab_scenarios: dict[str, Scenario] | None = None
        self.shifts: ShiftWatch | None = None
        self.history_broken = False  # the history could not be opened: said once, not appended to

    # -- lifecycle ------------------------------------------------------------------------
    def start(self, emulator: tuple[str, str] | None = None) -> None:
        """Resolve the endpoint, build and check the client, load the baseline; raises
        TargetError/BaselineError. ``emulator`` is the (url, key) of an emulator that is already
        running (a pytest-xdist worker measures the one its controller started); without it the
        emulator target starts its own."""
        settings = self.settings
        self.commit = commit_info(self.root)
        self.endpoint = self._resolve_endpoint(emulator)
        self._loop = LoopThread()
        self._pool = in_flight_capacity(max(settings.concurrency))
        endpoint = self.endpoint
        self._harness = self._loop.run(self._build_harness(self._pool))
        spec = PoolSpec(
            endpoint,
            max_concurrency=max(settings.concurrency),
            timeout=settings.timeout,
            policy=RetryPolicy(retries=settings.retries),
            max_client_lag=settings.max_client_lag,
            min_achieved=settings.min_achieved,
        )
        if settings.ray_address is not None:
            self._workers = self._ray_pool(spec)
        elif settings.workers > 1:
            self._workers = WorkerPool(spec, workers=settings.workers)
        models = self._loop.run(list_models(self._harness.client, endpoint))
        if settings.model is None:
            resolved = default_model(endpoint, models)
            if resolved is None:
                raise TargetError(f"{endpoint.base_url} lists no models; pass --model NAME")
            self.model = resolved
        elif settings.model not in models:
            raise TargetError(
                f"--model {settings.model}: unknown at {endpoint.base_url}; it serves: {', '.join(models)}"
            )
        else:
            self.model = settings.model
        if settings.ab is not None:  # A/B compares A with B, never with stored baselines
            self._start_ab(settings.ab, models)
            return
        self.baseline = load_baseline(self.baseline_file, target=self.target_identity, model=self.model)
        self.shifts = self._watch_shifts()

    def _watch_shifts(self) -> ShiftWatch | None:
        """The run history, read at test time for the ``shifted`` notes; a database that cannot be
        opened is one note, and the session measures on (the files are written without it)."""
        if self.settings.history_url is None or not self.settings.gate:
            return None
        assert self.endpoint is not None and self.model is not None
        try:
            store = HistoryStore.open(self.settings.history_url)
        except HistoryError as exc:
            self.notes.append(f"cerebras-perf: run history NOT written: {exc}")
            self.history_broken = True
            return None
        return ShiftWatch(
            store, target_key=self.endpoint.key, model=self.model, run_id=self.run_id, started=self.started
        )

    def _ray_pool(self, spec: PoolSpec) -> ClientPool:
        """Ray loads only here (an optional extra); the note says where the actors run and their clocks."""
        from .ray_pool import RayPool

        settings = self.settings
        assert settings.ray_address is not None
        pool = RayPool(spec, address=settings.ray_address, actors=settings.ray_actors)
        self.notes.append(pool.describe())
        return pool

    def _start_ab(self, side: ABSide, b_models: list[str]) -> None:
        """A's endpoint (its own client if it is another one), model and scenarios; one-line errors."""
        assert self._loop is not None and self.endpoint is not None and self.model is not None
        self._ab_endpoint = ab.a_endpoint(side, self.endpoint)
        served = b_models
        if self._ab_endpoint is not self.endpoint:
            self._ab_harness = self._loop.run(self._build_harness(self._pool, self._ab_endpoint))
            served = self._loop.run(list_models(self._ab_harness.client, self._ab_endpoint))
        self._ab_model = ab.a_model(
            side, self.model, self._ab_endpoint, served, default_model(self._ab_endpoint, served)
        )
        self._ab_scenarios = ab.a_scenarios(side)

    def host(self) -> None:
        """The pytest-xdist controller's start: resolve the endpoint (starting the emulator its
        workers will share, if that is the target) without measuring anything."""
        self.commit = commit_info(self.root)
        self.endpoint = self._resolve_endpoint(None)

    def _resolve_endpoint(self, emulator: tuple[str, str] | None) -> Endpoint:
        settings = self.settings
        if choose_kind(settings) != "emulator":
            endpoint = endpoint_for(settings)
            if endpoint.dropped_credentials:
                self.notes.append(
                    "--perf-base-url: the user:password in the URL is not sent; the API key goes in the "
                    "Authorization header (set it with CEREBRAS_API_KEY)"
                )
            return endpoint
        if emulator is None:
            from .emulator.process import EmulatorProcess
            from .emulator.profile import DEFAULT_PROFILE, load_profile

            key = new_emulator_key()
            self._emulator = EmulatorProcess()
            emulator = (self._emulator.start(profile=settings.emulator_profile, api_key=key), key)
            if load_profile(settings.emulator_profile).retired:
                self.notes.append(
                    f"emulator profile {settings.emulator_profile} emulates a model Cerebras has RETIRED (kept to "
                    f"reproduce the original study); the current default is {DEFAULT_PROFILE}"
                )
        url, key = emulator
        return endpoint_for(settings, emulator_url=url, emulator_key=key)

    def mark_partial(self, reason: str) -> None:
        """The run did not measure all it was asked to (interrupted, a quota, a lost worker).

        The first reason stays: later ones are its consequences. A partial run saves no baseline
        and says so in every file it writes.
        """
        self.partial_reason = self.partial_reason or reason

    def measured(self) -> Measured:
        return Measured(self.records, self.model, self.partial_reason, self.quota_stop, self.notes)

    def absorb(self, measured: Measured) -> None:
        """Take over what another session measured (a pytest-xdist worker's), to write it with ours."""
        self.records.extend(measured.records)
        self.model = self.model or measured.model
        if measured.partial_reason:
            self.mark_partial(measured.partial_reason)
        self.quota_stop = self.quota_stop or measured.quota_stop
        self.notes.extend(note for note in measured.notes if note not in self.notes)

    @property
    def baseline_file(self) -> Path:
        assert self.endpoint is not None and self.model is not None
        return baseline_path(self.settings.baseline_dir, self.endpoint.key, self.model)

    @property
    def target_identity(self) -> dict[str, str]:
        assert self.endpoint is not None
        return {"kind": self.endpoint.kind, "key": self.endpoint.key}

    def close(self) -> None:
        for harness in (self._harness, self._ab_harness):
            if harness is not None and self._loop is not None:
                # closing a broken client must not hide the session's own outcome
                with contextlib.suppress(Exception):
                    self._loop.run(harness.close())
        if self._loop is not None:
            self._loop.close()
        if self._workers is not None:
            self._workers.close()
        if self._emulator is not None:
            self._emulator.stop()
        if self.shifts is not None:
            self.shifts.close()
        self._harness = self._ab_harness = self._loop = self._emulator = self._workers = self.shifts = None

    # -- measuring ------------------------------------------------------------------------
    def _plan(self, concurrency: int, *, warmup: int | None = None, cold: bool = False) -> LoadPlan:
        s = self.settings
        return LoadPlan(
            iterations=s.iterations,
            warmup=s.warmup if warmup is None else warmup,
            concurrency=concurrency,
            request_rate=s.request_rate,
            seed=len(self.records),
            cold=cold,
        )

    @property
    def length_fields(self) -> tuple[str, ...]:
        """The request fields that carry a pinned output length to this endpoint (dialect.py)."""
        assert self.endpoint is not None
        return length_fields(self.settings.length_fields, self.endpoint.kind)

    def _measure_into(self, scenario_request: Mapping[str, Any], plan: LoadPlan, result: LoadResult) -> LoadResult:
        assert self._loop is not None and self._harness is not None and self.model is not None
        harness, model = self._harness, self.model
        request = pin_length(scenario_request, self.length_fields)
        if self._workers is not None:
            return self._workers.measure(model, request, plan, result)

        async def go() -> LoadResult:
            await warm(harness, model, request, plan)
            sized = await self._open_loop_harness(harness, model, request, plan)
            return await run_measured(sized, model, request, plan, result)

        return self._loop.run(go())

    async def _build_harness(self, pool: int, endpoint: Endpoint | None = None) -> Harness:
        assert self.endpoint is not None
        s = self.settings
        return Harness(
            endpoint or self.endpoint, pool_size=pool, timeout=s.timeout, policy=RetryPolicy(retries=s.retries)
        )

    async def _open_loop_harness(
        self, harness: Harness, model: str, request: Mapping[str, Any], plan: LoadPlan
    ) -> Harness:
        """The harness an open loop needs: its pool sized from the rate and this scenario's latency
        (capacity.py), rebuilt and warmed when the current one is too small."""
        if plan.request_rate is None:
            return harness
        probe = await harness.request(model, request)
        latency = probe.e2e if probe.ok and probe.e2e is not None else self.settings.timeout
        needed = in_flight_capacity(plan.concurrency, plan.request_rate, latency)
        if needed <= self._pool:
            return harness
        await harness.close()
        self._harness = harness = await self._build_harness(needed)
        self._pool = needed
        await warm(harness, model, request, replace(plan, concurrency=needed - SPARE, warmup=1))
        return harness

    def measure(
        self, scenario: Scenario, concurrency: int, nodeid: str, overrides: Mapping[str, Any] | None = None
    ) -> ScenarioRecord:
        """Warm up, measure, gate. The record is kept even when this is interrupted or a quota ends it."""
        if self.quota_stop:
            raise DailyQuotaExceededSkip(self.quota_stop)
        key = record_id(scenario.name, concurrency)
        earlier = next((r.nodeid for r in self.records if r.id == key and r.nodeid != nodeid), None)
        if earlier is not None:
            raise RunIdTaken(
                f"{nodeid}: {earlier} already measured {key}: this run would replace it in the results and baselines; "
                "give this test a scenario of its own (marker name=... or another scenarios.yaml entry)"
            )
        request = scenario.request_kwargs(overrides)
        record = ScenarioRecord(scenario, concurrency, nodeid, request, LoadResult())
        plan = self._plan(concurrency, cold=scenario.prompt_cache == "cold")
        if self.settings.ab is not None:
            record.ab = self._a_record(scenario, overrides or {}, plan.seed)
        self.records.append(record)
        try:
            try:
                if record.ab is not None:
                    self._measure_ab_into(record, record.ab, plan)
                else:
                    self._measure_into(request, plan, record.result)
            finally:
                record.aggregate = aggregate(
                    record.result,
                    self.settings.max_client_lag,
                    requested=None if plan.request_rate else concurrency,
                    min_achieved=self.settings.min_achieved,
                )
                if record.ab is not None:
                    record.ab.aggregate = aggregate(
                        record.ab.result,
                        self.settings.max_client_lag,
                        requested=None if plan.request_rate else concurrency,
                        min_achieved=self.settings.min_achieved,
                    )
                saturated = saturation_warning(record.aggregate, self.settings)
                record.warnings.extend(filter(None, [rejected_server_times(record.result.samples), saturated]))
                self._check_responses(record)
            if record.ab is not None:
                self._gate_ab(record, record.ab, overrides or {}, plan)
            else:
                self._gate(record, overrides or {}, plan)
        except DailyQuotaExceeded as exc:  # in the warmup, the measured run or the gate's confirmation re-run
            self.quota_stop = str(exc)
            self.mark_partial(str(exc))
            record.result.stopped = record.result.stopped or str(exc)
            raise
        except WorkerLost as exc:  # what the lost worker and the others sent stays in the record
            self.mark_partial(f"{record.id}: {exc}")
            record.result.stopped = record.result.stopped or str(exc)
            raise
        except BaseException:
            self.mark_partial("interrupted")
            record.result.stopped = record.result.stopped or "interrupted"
            raise
        return record

    def _gate(self, record: ScenarioRecord, overrides: Mapping[str, Any], plan: LoadPlan) -> None:
        s = self.settings
        record.baseline = self.baseline.scenarios.get(record.id) if self.baseline else None
        record.warnings.extend(fingerprint_warnings(record.result.samples, record.baseline))
        if record.baseline:
            record.warnings.extend(self._compatibility(record))
        if not s.gate:
            return
        assert self.endpoint is not None
        policy = GatePolicy(
            alpha_suite=s.alpha_suite,
            n_gates=self.n_gates,
            tau_prior=self.tau_prior,
            fail_on_drift=s.fail_on_drift,
        )

        def confirmation() -> list[Sample]:
            extra = LoadResult()
            self._measure_into(record.request, self._plan(plan.concurrency, warmup=0, cold=plan.cold), extra)
            return extra.samples

        record.verdicts, record.confirmation_samples = gate_run(
            record.result.samples,
            record.baseline,
            metrics=s.gate_metrics,
            global_tolerance=s.tolerance,
            overrides={**record.scenario.tolerances, **overrides.get("tolerances", {})},
            policy=policy,
            keep_runs=s.baseline_runs,
            saturated=bool(record.aggregate["client"]["saturated"]),
            unpinned=record.unpinned,
            confirm_samples=confirmation,
            suite_tau=suite_taus(self.baseline.scenarios.values(), s.gate_metrics, policy) if self.baseline else None,
            slo=record.scenario.slo,
        )
        record.e2e_cause = e2e_cause(record.verdicts, record.result.samples, record.baseline, s.baseline_runs)
        if self.shifts is not None:
            record.verdicts = self.shifts.annotate(
                record.id, record.result.samples, record.verdicts, fail_on_shift=s.fail_on_shift
            )
            if self.shifts.error is not None:  # said once; the run is still appended at the end if it can be
                self.notes.append(f"cerebras-perf: run history {self.shifts.error}")
                self.shifts.close()
                self.shifts = None

    # -- interleaved A/B ----------------------------------------------------------------------
    def _a_record(self, scenario: Scenario, overrides: Mapping[str, Any], seed: int) -> ab.ABRecord:
        side = self.settings.ab
        assert side is not None and self._ab_endpoint is not None and self._ab_model is not None
        return ab.a_record(
            side,
            self._ab_scenarios,
            scenario,
            overrides,
            model=self._ab_model,
            base_url=self._ab_endpoint.base_url,
            seed=side.seed + seed,
        )

    def _measure_ab_into(
        self, record: ScenarioRecord, a_side: ab.ABRecord, plan: LoadPlan, warmed: bool = False
    ) -> None:
        """Warm both sides (unless already warm), then alternate them in blocks on every slot."""
        assert self._loop is not None and self._harness is not None and self.model is not None
        a = Arm(self._ab_harness or self._harness, a_side.model, a_side.request)
        b = Arm(self._harness, self.model, record.request)

        async def go() -> None:
            if not warmed:
                await warm(a.harness, a.model, a.request, plan)
                await warm(b.harness, b.model, b.request, plan)
            await run_interleaved(a, b, plan, (a_side.result, record.result), a_side.pairs)

        self._loop.run(go())

    def _gate_ab(
        self, record: ScenarioRecord, a_side: ab.ABRecord, overrides: Mapping[str, Any], plan: LoadPlan
    ) -> None:
        s = self.settings
        if not s.gate:
            return
        policy = GatePolicy(
            alpha_suite=s.alpha_suite, tau_prior=0.0, n_gates=self.n_gates
        )  # no drift term: it cancels in a block

        def confirmation() -> tuple[list[Sample], list[Sample], list[tuple[int, int]]]:
            extra = ab.ABRecord(a_side.scenario, a_side.model, a_side.base_url, a_side.request, a_side.seed + 7919)
            extra_b = ScenarioRecord(record.scenario, record.concurrency, record.nodeid, record.request, LoadResult())
            self._measure_ab_into(extra_b, extra, replace(plan, seed=plan.seed + 7919), warmed=True)
            ab.merge_blocks(a_side, record.result, extra, extra_b.result)
            return a_side.result.samples, record.result.samples, a_side.pairs

        saturated = bool(record.aggregate["client"]["saturated"] or a_side.aggregate["client"]["saturated"])
        record.verdicts, blocks = ab.gate_ab(
            a_side,
            record.result.samples,
            metrics=s.gate_metrics,
            global_tolerance=s.tolerance,
            overrides={**record.scenario.tolerances, **overrides.get("tolerances", {})},
            policy=policy,
            saturated=saturated,
            confirm=confirmation,
        )
        record.confirmation_samples = blocks

    def _check_responses(self, record: ScenarioRecord) -> None:
        """Warnings about what the responses held: unusable server times, counts the endpoint did
        not send, prompt-cache hits, and lengths other than the scenario's (then ``unpinned``)."""
        samples = record.result.samples
        record.unpinned = length_mismatch(
            samples,
            record.request.get("min_completion_tokens"),
            record.request.get("max_completion_tokens"),
            self.length_fields,
        )
        found = [
            rejected_server_times(samples),
            *token_count_warnings(samples),
            cache_warning(samples, record.scenario.prompt_cache == "cold"),
            record.unpinned,
        ]
        record.warnings.extend(warning for warning in found if warning is not None)

    @functools.cached_property
    def tau_prior(self) -> float:
        """The session-drift prior the gate uses until the baseline history can estimate τ."""
        assert self.endpoint is not None
        return tau_prior(self.endpoint.kind, self.settings.emulator_profile)

    def _compatibility(self, record: ScenarioRecord) -> list[str]:
        assert record.baseline is not None
        last = record.baseline.runs[-1]
        notes = []
        if last.iterations != self.settings.iterations * record.concurrency:
            notes.append(
                f"baseline runs have {last.iterations} samples, this run "
                f"{self.settings.iterations * record.concurrency}: compared anyway"
            )
        max_tokens = record.request.get("max_completion_tokens")
        if last.max_completion_tokens is not None and last.max_completion_tokens != max_tokens:
            notes.append(
                f"baseline max_completion_tokens {last.max_completion_tokens} != {max_tokens}: "
                "output lengths differ, compared anyway"
            )
        return notes

    def single(self, scenario: Scenario, overrides: Mapping[str, Any] | None = None) -> Sample:
        """One measured request (no warmup, no gate), for tests that check a single response."""
        assert self._loop is not None and self._harness is not None and self.model is not None
        harness, model = self._harness, self.model
        request = pin_length(scenario.request_kwargs(overrides), self.length_fields)

        async def go() -> Sample:
            return await harness.request(model, request)

        return self._loop.run(go())


class RunIdTaken(Exception):
    """A second test measured a scenario at a concurrency another test already measured.

    The run id ``<scenario>@c<concurrency>`` keys the results and the baselines, so the second run
    would silently replace the first. Records are not keyed by node id instead: a node id changes
    whenever a file or function is renamed (orphaning every accepted run), and two measurements under
    one scenario name would still claim to be the same prompt type. Nor is it a collection error: a
    test that only calls ``cerebras_call.once()`` on the scenario measures no run and is fine. So the
    second test fails, naming the first, and its fix is a scenario name of its own. (Under
    pytest-xdist two workers cannot see each other's records, so this check is per process: the
    controller keeps both records in the results, and ``baseline_saving`` saves neither, naming both.)
    """


class DailyQuotaExceededSkip(Exception):
    """Raised for scenarios after a daily quota stopped the model; the plugin turns it into a skip."""
