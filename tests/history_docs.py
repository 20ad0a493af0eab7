"""Small results documents for the run-history tests, written through the real history writer.

Each has one decode-heavy scenario whose e2e is ttft plus a decode time; ``decode`` scales that
decode time (1.15 = 15 % slower decoding), and every run draws its own session drift, so a series
of runs looks like a real history.
"""

from __future__ import annotations

from typing import cast

import numpy as np

from pytest_cerebras_perf.results_doc import SCHEMA, ResultsDoc

SCENARIO = "decode_heavy@c1"
NO_SERVER_TIMES = {"queue_time": None, "prompt_time": None, "completion_time": None, "total_time": None}
TARGET = {"kind": "emulator", "base_url": "http://127.0.0.1:1", "baseline_set": "emulator", "model": "m"}


def history_doc(run: int, *, decode: float = 1.0, seed: int = 0, samples: int = 10) -> ResultsDoc:
    rng = np.random.default_rng([seed, run])
    drift = float(rng.lognormal(0.0, 0.01))
    rows = []
    for _ in range(samples):
        ttft = 0.010 * drift * float(rng.lognormal(0.0, 0.03))
        e2e = ttft + 0.050 * decode * drift * float(rng.lognormal(0.0, 0.03))
        rows.append({"ok": True, "ttft": ttft, "e2e": e2e, "server": NO_SERVER_TIMES, "usage": None})
    doc = {
        "schema": SCHEMA,
        "run": {"id": f"run-{run:02d}", "started": f"2026-01-01T00:{run:02d}:00+00:00", "partial": False},
        "target": TARGET,
        "settings": {"iterations": samples},
        "scenarios": [{"id": SCENARIO, "concurrency": 1, "complete": True, "samples": rows}],
    }
    return cast(ResultsDoc, doc)  # only the keys the history reads
