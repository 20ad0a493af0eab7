"""Open, create/migrate, append to and query the history database through SQLAlchemy Core.

SQLite (the default) runs in WAL mode with every transaction begun ``IMMEDIATE`` and a long busy
timeout: concurrent writers (pytest-xdist controllers, parallel CI jobs on one cache) queue for the
write lock instead of failing, and readers never block them. PostgreSQL serialises schema creation
with an advisory lock. Every database failure becomes one :class:`HistoryError` line naming the
database (credentials dropped) and what went wrong.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    CursorResult,
    Engine,
    and_,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from ..redact import redact
from .entries import RunEntry
from .location import describe, is_sqlite
from .schema import MIGRATIONS, SCHEMA_VERSION, VERSION_KEY, meta, metadata, metric_summaries, runs, scenario_runs

BUSY_TIMEOUT_S = 60.0  # how long a writer waits for another's write lock before giving up
SCHEMA_LOCK = 0x63657265  # PostgreSQL advisory lock taken while creating or migrating the schema


class HistoryError(Exception):
    """The history could not be read or written; the message is one line naming the database."""


@dataclass(frozen=True)
class Point:
    """One run of a series (scenario × metric), oldest first in :meth:`HistoryStore.series`."""

    number: int  # the run's number in this database
    run_id: str
    started: str
    centre: float
    spread: float | None
    fingerprints: tuple[str, ...]


@dataclass(frozen=True)
class RunRow:
    number: int
    run_id: str
    started: str
    target_key: str
    model: str
    commit_id: str | None
    partial: bool
    scenarios: int


def _one_line(exc: BaseException) -> str:
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    first = (str(cause) or type(cause).__name__).strip().splitlines()
    return redact(first[0] if first else type(cause).__name__)


class HistoryStore:
    """One history database; :meth:`open` creates or migrates its schema before anything else."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.where = describe(url)
        self._engine = _engine(url)

    @classmethod
    def open(cls, url: str) -> HistoryStore:
        store = cls(url)
        try:
            store._prepare()
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fail(self, exc: BaseException) -> HistoryError:
        return HistoryError(f"{self.where}: {_one_line(exc)}")

    # -- schema -----------------------------------------------------------------------------
    def _prepare(self) -> None:
        try:
            with self._engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
                version = None
                if inspect(conn).has_table(meta.name):
                    found = conn.execute(select(meta.c.value).where(meta.c.key == VERSION_KEY)).scalar()
                    version = None if found is None else int(found)
                if version is not None and version > SCHEMA_VERSION:
                    raise HistoryError(
                        f"{self.where}: schema version {version} is newer than this plugin's "
                        f"({SCHEMA_VERSION}); upgrade pytest-cerebras-perf or pass --perf-history elsewhere"
                    )
                for step in range(version or SCHEMA_VERSION, SCHEMA_VERSION):
                    for statement in MIGRATIONS[step]:
                        conn.execute(text(statement))
                metadata.create_all(conn)
                if version is None:
                    conn.execute(insert(meta).values(key=VERSION_KEY, value=str(SCHEMA_VERSION)))
                elif version < SCHEMA_VERSION:
                    conn.execute(update(meta).where(meta.c.key == VERSION_KEY).values(value=str(SCHEMA_VERSION)))
        except HistoryError:
            raise
        except (SQLAlchemyError, OSError, ValueError) as exc:
            raise self._fail(exc) from None

    # -- writing ----------------------------------------------------------------------------
    def append(self, entry: RunEntry) -> int:
        """Add one run in one transaction; returns its number in this database."""
        try:
            with self._engine.begin() as conn:
                number = _new_id(
                    conn.execute(
                        insert(runs).values(
                            run_id=entry.run_id,
                            started=entry.started,
                            finished=entry.finished,
                            partial=entry.partial,
                            target_kind=entry.target_kind,
                            target_key=entry.target_key,
                            base_url=entry.base_url,
                            model=entry.model,
                            commit_id=entry.commit_id,
                            branch=entry.branch,
                            plugin_version=entry.plugin_version,
                            sdk_version=entry.sdk_version,
                            settings=entry.settings,
                        )
                    )
                )
                if entry.scenarios:
                    # two statements for all scenario runs and their summaries, whatever their number:
                    # insertmanyvalues batches rows into one INSERT ... RETURNING (a round trip each)
                    ids = conn.execute(
                        insert(scenario_runs).returning(scenario_runs.c.id, sort_by_parameter_order=True),
                        [
                            {
                                "run": number,
                                "scenario": scenario.scenario,
                                "concurrency": scenario.concurrency,
                                "complete": scenario.complete,
                                "fingerprints": json.dumps(list(scenario.fingerprints)),
                                "samples": scenario.samples,
                            }
                            for scenario in entry.scenarios
                        ],
                    ).scalars()
                    summaries = [
                        {"scenario_run": scenario_id, **vars(metric)}
                        for scenario_id, scenario in zip(ids, entry.scenarios, strict=True)
                        for metric in scenario.metrics
                    ]
                    if summaries:
                        conn.execute(insert(metric_summaries), summaries)
        except SQLAlchemyError as exc:
            raise self._fail(exc) from None
        return number

    def prune(self, keep: int) -> int:
        """Keep the newest ``keep`` runs; returns how many were deleted."""
        try:
            with self._engine.begin() as conn:
                cutoff = conn.execute(select(runs.c.id).order_by(runs.c.id.desc()).offset(keep).limit(1)).scalar()
                if cutoff is None:
                    return 0
                old = select(scenario_runs.c.id).where(scenario_runs.c.run <= cutoff)
                conn.execute(delete(metric_summaries).where(metric_summaries.c.scenario_run.in_(old)))
                conn.execute(delete(scenario_runs).where(scenario_runs.c.run <= cutoff))
                return int(conn.execute(delete(runs).where(runs.c.id <= cutoff)).rowcount)
        except SQLAlchemyError as exc:
            raise self._fail(exc) from None

    # -- reading ----------------------------------------------------------------------------
    def series(self, target_key: str, model: str, scenario: str, metric: str, last: int) -> list[Point]:
        """The last ``last`` complete runs of one scenario × metric with a centre, oldest first."""
        query = (
            select(
                runs.c.id,
                runs.c.run_id,
                runs.c.started,
                metric_summaries.c.centre,
                metric_summaries.c.spread,
                scenario_runs.c.fingerprints,
            )
            .select_from(
                scenario_runs.join(runs, runs.c.id == scenario_runs.c.run).join(
                    metric_summaries,
                    and_(metric_summaries.c.scenario_run == scenario_runs.c.id, metric_summaries.c.metric == metric),
                )
            )
            .where(
                scenario_runs.c.scenario == scenario,
                scenario_runs.c.complete.is_(True),
                runs.c.target_key == target_key,
                runs.c.model == model,
                metric_summaries.c.centre.is_not(None),
            )
            .order_by(runs.c.id.desc())
            .limit(last)
        )
        rows = self._read(query)
        return [
            Point(
                int(r.id), str(r.run_id), str(r.started), float(r.centre), r.spread, tuple(json.loads(r.fingerprints))
            )
            for r in reversed(rows)
        ]

    def runs(self, last: int | None = None) -> list[RunRow]:
        query = (
            select(
                runs.c.id,
                runs.c.run_id,
                runs.c.started,
                runs.c.target_key,
                runs.c.model,
                runs.c.commit_id,
                runs.c.partial,
                func.count(scenario_runs.c.id).label("scenarios"),
            )
            .select_from(runs.outerjoin(scenario_runs, scenario_runs.c.run == runs.c.id))
            .group_by(runs.c.id)
            .order_by(runs.c.id.desc())
            .limit(last)
        )
        return [
            RunRow(
                int(r.id), r.run_id, r.started, r.target_key, r.model, r.commit_id, bool(r.partial), int(r.scenarios)
            )
            for r in reversed(self._read(query))
        ]

    def run(self, ref: str) -> dict[str, Any] | None:
        """One run by its number or run id: its record and per scenario the metric summaries."""
        where = runs.c.run_id == ref if not ref.isdigit() else runs.c.id == int(ref)
        found = self._read(select(runs).where(where))
        if not found:
            return None
        run = dict(found[0]._mapping)
        run["settings"] = json.loads(run["settings"])
        summaries = self._read(
            select(scenario_runs.c.scenario, scenario_runs.c.complete, scenario_runs.c.fingerprints, metric_summaries)
            .select_from(scenario_runs.join(metric_summaries, metric_summaries.c.scenario_run == scenario_runs.c.id))
            .where(scenario_runs.c.run == run["id"])
            .order_by(scenario_runs.c.id, metric_summaries.c.metric)
        )
        scenarios: dict[str, dict[str, Any]] = {}
        for row in summaries:
            entry = scenarios.setdefault(
                row.scenario,
                {"complete": bool(row.complete), "fingerprints": json.loads(row.fingerprints), "metrics": {}},
            )
            values = dict(row._mapping)
            entry["metrics"][row.metric] = {
                k: values[k] for k in ("n", "p50", "p90", "p99", "mean", "centre", "spread")
            }
        run["scenarios"] = scenarios
        return run

    def summary_rows(self) -> Iterator[dict[str, Any]]:
        """Every run × scenario × metric summary, oldest run first (the CSV export)."""
        query = (
            select(
                runs.c.id.label("run"),
                runs.c.run_id,
                runs.c.started,
                runs.c.target_key,
                runs.c.model,
                runs.c.commit_id,
                scenario_runs.c.scenario,
                scenario_runs.c.concurrency,
                metric_summaries.c.metric,
                metric_summaries.c.n,
                metric_summaries.c.p50,
                metric_summaries.c.p90,
                metric_summaries.c.p99,
                metric_summaries.c.mean,
                metric_summaries.c.centre,
                metric_summaries.c.spread,
            )
            .select_from(
                runs.join(scenario_runs, scenario_runs.c.run == runs.c.id).join(
                    metric_summaries, metric_summaries.c.scenario_run == scenario_runs.c.id
                )
            )
            .order_by(runs.c.id, scenario_runs.c.id, metric_summaries.c.metric)
        )
        for row in self._read(query):
            yield dict(row._mapping)

    def _read(self, query: Any) -> Sequence[Any]:
        try:
            with self._engine.connect() as conn:
                return conn.execute(query).all()
        except SQLAlchemyError as exc:
            raise self._fail(exc) from None


def _new_id(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _engine(url: str) -> Engine:
    if not is_sqlite(url):
        return create_engine(url, pool_size=1, connect_args={"connect_timeout": 10})  # SCRAM login is slow: reuse
    path = url.removeprefix("sqlite:///")
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_size=1, connect_args={"timeout": BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers and one writer at once
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable at each checkpoint; WAL keeps it consistent
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: two writers that both began reading could
        # otherwise deadlock on the upgrade, and SQLite fails one at once instead of waiting.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
