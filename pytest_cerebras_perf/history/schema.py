"""The history's tables and their version: one schema for SQLite and PostgreSQL (SQLAlchemy Core).

A run is one session; a scenario run is one ``<scenario>@c<concurrency>`` of it, with its raw
samples compressed; a metric summary is one metric of a scenario run (n, p50, p90, p99, mean, the
gate's trimmed log-centre and that centre's standard error). The ``meta`` table holds
``schema_version``: a database written by a newer plugin is refused, an older one migrated.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

SCHEMA_VERSION = 1
VERSION_KEY = "schema_version"

metadata = MetaData()

meta = Table(
    "cerebras_perf_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
)

runs = Table(
    "cerebras_perf_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False, unique=True),
    Column("started", String(40), nullable=False),
    Column("finished", String(40)),
    Column("partial", Boolean, nullable=False),
    Column("target_kind", String(32)),
    Column("target_key", String(256), nullable=False),
    Column("base_url", Text),
    Column("model", String(256), nullable=False),
    Column("commit_id", String(64)),
    Column("branch", String(256)),
    Column("plugin_version", String(64)),
    Column("sdk_version", String(64)),
    Column("settings", Text, nullable=False),  # JSON
    Index("cerebras_perf_runs_target", "target_key", "model", "id"),
)

scenario_runs = Table(
    "cerebras_perf_scenario_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run", Integer, ForeignKey("cerebras_perf_runs.id", ondelete="CASCADE"), nullable=False),
    Column("scenario", String(256), nullable=False),  # <scenario>@c<concurrency>
    Column("concurrency", Integer, nullable=False),
    Column("complete", Boolean, nullable=False),
    Column("fingerprints", Text, nullable=False),  # JSON list of system_fingerprint values
    Column("samples", LargeBinary, nullable=False),  # zlib-compressed JSON of the results' samples
    UniqueConstraint("run", "scenario"),
    Index("cerebras_perf_scenario_runs_series", "scenario", "run"),
)

metric_summaries = Table(
    "cerebras_perf_metric_summaries",
    metadata,
    Column("scenario_run", Integer, ForeignKey("cerebras_perf_scenario_runs.id", ondelete="CASCADE"), nullable=False),
    Column("metric", String(64), nullable=False),
    Column("n", Integer, nullable=False),
    Column("p50", Float, nullable=False),
    Column("p90", Float, nullable=False),
    Column("p99", Float, nullable=False),
    Column("mean", Float, nullable=False),
    Column("centre", Float),  # exp(trimmed mean of the logs): None when a value was not positive
    Column("spread", Float),  # standard error of that log-centre
    UniqueConstraint("scenario_run", "metric"),
)

MIGRATIONS: dict[int, tuple[str, ...]] = {}
"""Statements that take a database from version ``v`` to ``v + 1``, keyed by ``v``; a schema change
bumps :data:`SCHEMA_VERSION` and adds its step here (version 1 is the first, nothing to migrate)."""
