"""Scenario files: the shipped suite loads, and each mistake gets a one-line error with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

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
    for name, scenario in scenarios.items():
        kwargs = scenario.request_kwargs()
        assert kwargs["temperature"] == 0 and kwargs["reasoning_effort"] == "medium"
        assert kwargs["max_completion_tokens"] == 4096  # room for reasoning at any effort
        # long outputs: a floor keeps decode time stable whatever the reasoning length
        assert kwargs.get("min_completion_tokens") == (2000 if name.endswith("long_output") else None)


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
        ("scenarios:\n  a:\n    prompt: hi\n    tolerances: {tfft: 0.2}\n", "tolerances.tfft: not a gateable metric"),
        (
            "scenarios:\n  a:\n    prompt: hi\n    tolerances: {e2e: {relativ: 0.2}}\n",
            "tolerances.e2e.relativ: unknown key; expected relative or abs_floor",
        ),
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


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("reasoning_effort", "max", "'reasoning_effort' must be one of none, low, medium, high, got 'max'"),
        ("service_tier", "gold", "'service_tier' must be one of auto, default, flex, priority, got 'gold'"),
        ("disable_reasoning", "yes", "'disable_reasoning' must be true or false, got 'yes'"),
        ("top_p", 1.5, "'top_p' must be a number from 0 to 1, got 1.5"),
        ("stop", ["a", "b", "c", "d", "e"], "'stop' must be a non-empty string or a list of 1 to 4 non-empty strings"),
        ("tools", [{"type": "function"}], "'tools' must be a non-empty list of {type: function, function: {name:"),
        ("tool_choice", "always", "'tool_choice' must be one of none, auto, required or {type: function"),
        (
            "response_format",
            {"type": "xml"},
            "'response_format' must be a mapping with 'type' one of text, json_object",
        ),
        ("response_format", {"type": "json_schema"}, "'response_format' of type json_schema needs a 'json_schema'"),
    ],
)
def test_each_request_field_has_a_one_line_error_naming_file_and_line(
    tmp_path: Path, field: str, value: object, message: str
) -> None:
    text = yaml.safe_dump({"scenarios": {"a": {"prompt": "hi"}, "b": {"prompt": "hi", field: value}}})
    with pytest.raises(ScenarioError) as excinfo:
        load_scenarios(write(tmp_path, text))
    error = str(excinfo.value)
    assert error.startswith(f"{tmp_path / 'scenarios.yaml'}:4: scenario 'b': ") and message in error
    assert "\n" not in error


def test_tool_choice_without_tools_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"scenarios.yaml:2: scenario 'a': 'tool_choice' needs 'tools'"):
        load_scenarios(write(tmp_path, "scenarios:\n  a:\n    prompt: hi\n    tool_choice: auto\n"))


def test_request_fields_go_to_the_sdk_as_keyword_arguments(tmp_path: Path) -> None:
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    spec = {
        "prompt": "hi",
        "reasoning_effort": "low",
        "service_tier": "flex",
        "disable_reasoning": False,
        "top_p": 1,
        "stop": ["END"],
        "tools": [tool],
        "tool_choice": "auto",
        "response_format": {"type": "json_object"},
        "extra_body": {"clear_thinking": True},
    }
    kwargs = build_scenario("a", spec, where="t", base=tmp_path).request_kwargs()
    assert kwargs["reasoning_effort"] == "low" and kwargs["service_tier"] == "flex"
    assert kwargs["disable_reasoning"] is False and kwargs["top_p"] == 1.0 and kwargs["stop"] == ["END"]
    assert kwargs["tools"] == [tool] and kwargs["tool_choice"] == "auto"
    assert kwargs["response_format"] == {"type": "json_object"}
    assert kwargs["extra_body"] == {"clear_thinking": True}  # anything else still goes through extra_body
