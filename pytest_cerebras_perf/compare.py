"""``python -m pytest_cerebras_perf.compare A.json B.json [-o report.html]``: is B slower than A?

Two saved results files are two sessions, so each carries its own drift: this applies the
baseline gate (gate.py, with its drift term, the prior of A's endpoint) to every scenario run the
two files share, A's samples in the baseline's place. There is no second measurement to confirm
with, so a metric that stage 1 flags is confirmed on the same samples at the suite's α2 (the
stricter bar is what a confirmation adds against noise). Prints A → B per gated metric, writes the
ordinary report (the verdict table, A against B), and exits 1 on a regression, 2 on bad input.
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Sequence
from pathlib import Path

from .gate import Comparison, GatePolicy, Verdict, confirm, gate_error_rate, gate_metric
from .gating import ERROR_RATE, tau_prior, tolerance_for
from .metrics import METRICS, sample_metric_from_json
from .report.html import write_report
from .report.results_file import ResultsFileError, load_results
from .report.verdicts import transition
from .results_doc import ResultsDoc, ScenarioEntry
from .settings import GATEABLE_METRICS

DEFAULT_METRICS = ("ttft", "e2e", "output_tps", "server_total", "error_rate")


def _values(entry: ScenarioEntry, metric: str) -> list[float]:
    found = (sample_metric_from_json(sample, metric) for sample in entry["samples"])
    return [value for value in found if value is not None]


def _failed(entry: ScenarioEntry) -> tuple[int, int]:
    samples = entry["samples"]
    return sum(1 for sample in samples if not sample["ok"]), len(samples)


def compare_entry(
    a: ScenarioEntry, b: ScenarioEntry, *, metrics: Sequence[str], tolerance: float, policy: GatePolicy
) -> list[Verdict]:
    """The baseline gate on one scenario run: B's samples against A's as a one-run baseline."""
    verdicts = []
    for metric in metrics:
        if metric == ERROR_RATE:
            a_failed, a_count = _failed(a)
            b_failed, b_count = _failed(b)
            verdicts.append(gate_error_rate(b_failed, b_count, [a_failed / a_count] if a_count else []))
            continue
        if metric not in METRICS:
            continue
        current = _values(b, metric)
        against = Comparison(
            [_values(a, metric)],
            higher_is_better=METRICS[metric].higher_is_better,
            tolerance=tolerance_for(metric, tolerance, {}),
            policy=policy,
        )
        verdicts.append(confirm(gate_metric(metric, current, against), current, against))
    return verdicts


def compare(
    a: ResultsDoc, b: ResultsDoc, *, metrics: Sequence[str], tolerance: float, alpha: float
) -> tuple[ResultsDoc, list[str]]:
    """B's results document with every shared scenario run gated against A's, and notes on the rest."""
    a_runs = {entry["id"]: entry for entry in a["scenarios"]}
    b_runs = [entry for entry in b["scenarios"] if entry["id"] in a_runs]
    shared = {entry["id"] for entry in b_runs}
    notes = [f"{entry['id']}: only in B, not compared" for entry in b["scenarios"] if entry["id"] not in shared]
    notes += [f"{key}: only in A, not compared" for key in a_runs if key not in shared]
    target = a["target"]
    policy = GatePolicy(
        alpha_suite=alpha,
        n_gates=max(1, len(b_runs) * len(metrics)),
        tau_prior=tau_prior(target["kind"], target.get("emulator_profile")),
    )
    document = copy.deepcopy(b)
    document.pop("ab", None)
    document["scenarios"] = []
    for entry in b_runs:
        a_entry = a_runs[entry["id"]]
        compared = copy.deepcopy(entry)
        compared.pop("ab", None)
        verdicts = compare_entry(a_entry, entry, metrics=metrics, tolerance=tolerance, policy=policy)
        compared["gate"] = [verdict.to_json() for verdict in verdicts]
        compared["baseline"] = {"runs": 1, "stored_runs": 1, "samples": {m: _values(a_entry, m) for m in METRICS}}
        document["scenarios"].append(compared)
    document["compare"] = {
        "a": {"run": a["run"]["id"], "target": target},
        "b": {"run": b["run"]["id"], "target": b["target"]},
        "tau_prior": policy.tau_prior,
        "describe": f"A = run {a['run']['id']}, B = run {b['run']['id']}",
    }
    document["settings"]["gate_metrics"] = list(metrics)
    return document, notes


def _metrics(text: str) -> list[str]:
    metrics = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in metrics if m not in GATEABLE_METRICS or m == "goodput"]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown metric {unknown[0]!r}")
    return metrics


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_cerebras_perf.compare",
        description="Gate run B against run A (two results JSON files); exit 1 on a regression.",
    )
    parser.add_argument("a", type=Path, help="results JSON of the reference run (A)")
    parser.add_argument("b", type=Path, help="results JSON of the run to judge (B)")
    parser.add_argument("-o", "--output", type=Path, help="HTML report to write (default: B with .compare.html)")
    parser.add_argument("--metrics", type=_metrics, default=list(DEFAULT_METRICS), help="metrics to gate, M[,M...]")
    parser.add_argument("--tolerance", type=float, default=0.10, help="materiality threshold, e.g. 0.10 = 10%%")
    parser.add_argument("--alpha", type=float, default=0.01, help="suite-wide false-alarm budget")
    args = parser.parse_args(argv)
    try:
        a, b = load_results(args.a), load_results(args.b)
    except ResultsFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not 0 < args.alpha < 0.5 or not args.tolerance >= 0:
        print("error: --alpha must be in (0, 0.5) and --tolerance >= 0", file=sys.stderr)
        return 2
    document, notes = compare(a, b, metrics=args.metrics, tolerance=args.tolerance, alpha=args.alpha)
    print(f"compare: A = {args.a}, B = {args.b}; baseline gate with drift τ = {document['compare']['tau_prior']:g}")
    regressions = 0
    for entry in document["scenarios"]:
        for decision in entry["gate"]:
            print("  " + transition(entry["id"], decision))
            regressions += bool(decision.get("fails"))
    for note in notes:
        print(note)
    output = args.output or args.b.with_suffix(".compare.html")
    print(f"report: {write_report(document, output)}")
    if regressions:
        print(f"{regressions} regression(s) of B against A")
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main())
