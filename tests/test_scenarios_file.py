"""Scenario files: the shipped suite loads, and each mistake gets a one-line error with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_cerebras_perf.scenarios import ScenarioError, build_scenario, load_scenarios, select

SHIPPED = Path(__file__).resolve().parents[1] / "perf_tests" / "scenarios.yaml"


def test_shipped_suite_has_the_four_study_prompt_types() -> None:
    scenarios = load_scenarios(SHIPPED)
    assert list(scenarios) == [
        "short_input_short_output",
        "short_input_long_output",
        "long_input_short_output",
        "long_input_long_output",
    ]
    long_prompt = scenarios["long_input_long_output"].messages[-1]["content"]
    assert "{{" not in long_prompt and len(long_prompt.split()) > 1500  # the fixed document was included
    for scenario in scenarios.values():
        assert scenario.max_completion_tokens == scenario.min_completion_tokens  # stable output lengths
        assert scenario.request_kwargs()["temperature"] == 0


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenarios.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("scenarios: [unclosed", "scenarios.yaml:1: invalid YAML"),
        ("other: 1\n", "expected a top-level 'scenarios:' mapping"),
        (
            "scenarios:\n  a:\n    max_completion_tokens: 5\n",
            "scenarios.yaml:2: scenario 'a' has no 'messages' (or 'prompt')",
        ),
        (
            "scenarios:\n  a:\n    prompt: hi\n  b:\n    prompt: x\n    colour: red\n",
            "scenarios.yaml:4: scenario 'b': unknown field 'colour'",
        ),
        (
            "scenarios:\n  a:\n    prompt: hi\n    max_completion_tokens: -3\n",
            "field 'max_completion_tokens' must be a positive",
        ),
        ("scenarios:\n  a:\n    messages:\n      - content: hi\n", "messages[0] needs 'role'"),
        ("scenarios:\n  a:\n    prompt: '{{file: missing.md}}'\n", "cannot read included file 'missing.md'"),
        ("scenarios:\n  a:\n    prompt: hi\n    tolerances: {ttft: -1}\n", "tolerances.ttft must be a non-negative"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as excinfo:
        load_scenarios(write(tmp_path, text))
    assert message in str(excinfo.value)
    assert str(tmp_path) in str(excinfo.value)


def test_select_unknown_lists_known(tmp_path: Path) -> None:
    scenarios = load_scenarios(write(tmp_path, "scenarios:\n  a:\n    prompt: hi\n  b:\n    prompt: yo\n"))
    assert [s.name for s in select(scenarios, [], where="f")] == ["a", "b"]
    with pytest.raises(ScenarioError, match=r"f: unknown scenario 'c'; known: a, b"):
        select(scenarios, ["c"], where="f")


def test_inline_prompt_and_overrides(tmp_path: Path) -> None:
    scenario = build_scenario(
        "mine", {"prompt": "hello", "system": "be brief", "max_completion_tokens": 8}, where="t", base=tmp_path
    )
    assert [m["role"] for m in scenario.messages] == ["system", "user"]
    kwargs = scenario.request_kwargs({"max_completion_tokens": 64})
    assert kwargs["max_completion_tokens"] == 64 and kwargs["messages"][1]["content"] == "hello"
