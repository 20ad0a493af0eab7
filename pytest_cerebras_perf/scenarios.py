"""Scenarios: what one perf test sends. Loaded from ``scenarios.yaml`` or defined inline by the marker.

Errors name the file and line (``perf_tests/scenarios.yaml:14: scenario 'x': ...``) because a
traceback from inside YAML parsing tells a user nothing about which of their entries is wrong.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from .emulator.wire import REASONING_EFFORTS, SERVICE_TIERS
from .goodput import parse_slo
from .metrics import METRICS

_FILE_PLACEHOLDER = re.compile(r"\{\{\s*file:\s*([^}]+?)\s*\}\}")
# Request fields passed to the SDK's ``create()`` as they are, once validated (see _REQUEST_FIELD_CHECKS).
REQUEST_FIELDS = (
    "max_completion_tokens",
    "min_completion_tokens",
    "temperature",
    "seed",
    "reasoning_effort",
    "service_tier",
    "disable_reasoning",
    "top_p",
    "stop",
    "tools",
    "tool_choice",
    "response_format",
)
_TOLERANCE_KEYS = ("relative", "abs_floor")  # the fields of gate.Tolerance a scenario may override
_SCENARIO_KEYS = {
    "description",
    "messages",
    "prompt",
    "system",
    "extra_body",
    "tolerances",
    "slo",
    "prompt_cache",
    *REQUEST_FIELDS,
}
PromptCache = Literal["warm", "cold"]
PROMPT_CACHE: tuple[PromptCache, ...] = ("warm", "cold")
"""``prompt_cache: cold`` gives every request a unique first line, so no server answers it from its
prefix cache (dialect.cold); ``warm`` (the default) sends the same prompt each time, as users do."""
_TOOL_CHOICES = ("none", "auto", "required")
_RESPONSE_FORMATS = ("text", "json_object", "json_schema")
MAX_STOP_SEQUENCES = 4
_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


class ScenarioError(ValueError):
    """A bad scenario definition; the message is one line that names where it came from."""


@dataclass(frozen=True)
class Scenario:
    """One prompt type. ``tolerances`` maps a metric to a relative tolerance or a dict of overrides."""

    name: str
    messages: tuple[Mapping[str, str], ...]
    source: str
    max_completion_tokens: int | None = None
    min_completion_tokens: int | None = None
    temperature: float | None = None
    seed: int | None = None
    description: str = ""
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    tolerances: Mapping[str, Any] = field(default_factory=dict)
    reasoning_effort: str | None = None
    service_tier: str | None = None
    disable_reasoning: bool | None = None
    top_p: float | None = None
    stop: str | tuple[str, ...] | None = None
    tools: tuple[Mapping[str, Any], ...] | None = None
    tool_choice: str | Mapping[str, Any] | None = None
    response_format: Mapping[str, Any] | None = None
    slo: Mapping[str, float] = field(default_factory=dict)  # goodput.py: metric -> limit
    prompt_cache: PromptCache = "warm"

    @property
    def prompt_text(self) -> str:
        return "\n\n".join(f"[{m['role']}] {m['content']}" for m in self.messages)

    def request_kwargs(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Keyword arguments for ``chat.completions.create`` (model and stream are added by the caller)."""
        kwargs: dict[str, Any] = {"messages": [dict(m) for m in self.messages]}
        for key in REQUEST_FIELDS:
            value = getattr(self, key)
            if isinstance(value, tuple):
                value = [dict(v) if isinstance(v, Mapping) else v for v in value]
            elif isinstance(value, Mapping):
                value = dict(value)
            if value is not None:
                kwargs[key] = value
        if self.extra_body:
            kwargs["extra_body"] = dict(self.extra_body)
        if overrides:
            kwargs.update(overrides)
        return kwargs


def _where(path: Path, node: yaml.Node | None) -> str:
    return f"{path}:{node.start_mark.line + 1}" if node is not None else str(path)


def _expand_files(text: str, base: Path, where: str) -> str:
    """Replace ``{{file: path}}`` with the file's text. Paths stay inside ``base``'s tree (symlinks
    resolved): a prompt is sent to the endpoint and written to every artifact, so an include must not
    reach ``/proc/self/environ`` or a ``.env`` above the project."""
    root = base.resolve()

    def include(match: re.Match[str]) -> str:
        name = match.group(1)
        target = (root / name).resolve()
        if not target.is_relative_to(root):
            raise ScenarioError(
                f"{where}: included file {name!r} is outside {root}; includes must stay in that folder's tree"
            )
        try:
            return target.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ScenarioError(f"{where}: cannot read included file {name!r}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise ScenarioError(f"{where}: included file {name!r} is not UTF-8 text (byte {exc.start})") from None

    return _FILE_PLACEHOLDER.sub(include, text)


def _non_finite(value: Any, path: str) -> str | None:
    """The dotted path of the first NaN or infinite number in ``value``, else None (YAML reads
    ``.nan`` and ``.inf`` as numbers that no endpoint accepts)."""
    if isinstance(value, float) and not math.isfinite(value):
        return path
    if isinstance(value, Mapping):
        found = (_non_finite(item, f"{path}.{key}") for key, item in value.items())
    elif isinstance(value, (list, tuple)):
        found = (_non_finite(item, f"{path}[{index}]") for index, item in enumerate(value))
    else:
        return None
    return next((hit for hit in found if hit is not None), None)


def _positive_int(value: Any, where: str, key: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ScenarioError(f"{where}: field {key!r} must be a positive whole number, got {value!r}")
    return value


def _one_of(choices: Sequence[str]) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if isinstance(value, str) and value in choices else f"must be one of {', '.join(choices)}"

    return check


def _check_bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _check_top_p(value: Any) -> str | None:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and 0 <= value <= 1
    return None if ok else "must be a number from 0 to 1"


def _check_stop(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return None
    if (
        isinstance(value, list)
        and 0 < len(value) <= MAX_STOP_SEQUENCES
        and all(isinstance(v, str) and v for v in value)
    ):
        return None
    return f"must be a non-empty string or a list of 1 to {MAX_STOP_SEQUENCES} non-empty strings"


def _named_function(value: Any) -> bool:
    function = value.get("function") if isinstance(value, Mapping) else None
    return (
        isinstance(value, Mapping)
        and value.get("type") == "function"
        and isinstance(function, Mapping)
        and isinstance(function.get("name"), str)
        and bool(function["name"])
    )


def _check_tools(value: Any) -> str | None:
    if isinstance(value, list) and value and all(_named_function(tool) for tool in value):
        return None
    return "must be a non-empty list of {type: function, function: {name: ..., parameters: ...}}"


def _check_tool_choice(value: Any) -> str | None:
    if (isinstance(value, str) and value in _TOOL_CHOICES) or _named_function(value):
        return None
    return f"must be one of {', '.join(_TOOL_CHOICES)} or {{type: function, function: {{name: ...}}}}"


def _check_response_format(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, Mapping) else None
    if kind not in _RESPONSE_FORMATS:
        return f"must be a mapping with 'type' one of {', '.join(_RESPONSE_FORMATS)}"
    if kind == "json_schema" and not isinstance(value.get("json_schema"), Mapping):
        return "of type json_schema needs a 'json_schema' mapping"
    return None


_REQUEST_FIELD_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "reasoning_effort": _one_of(REASONING_EFFORTS),
    "service_tier": _one_of(SERVICE_TIERS),
    "disable_reasoning": _check_bool,
    "top_p": _check_top_p,
    "stop": _check_stop,
    "tools": _check_tools,
    "tool_choice": _check_tool_choice,
    "response_format": _check_response_format,
}


def _check_count(value: Any) -> str | None:
    return (
        None if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else "must be a whole number >= 1"
    )


def _check_number(value: Any) -> str | None:
    finite = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return None if finite else "must be a finite number"


def _check_seed(value: Any) -> str | None:
    return None if isinstance(value, int) and not isinstance(value, bool) else "must be a whole number"


_SCALAR_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "max_completion_tokens": _check_count,
    "min_completion_tokens": _check_count,
    "temperature": _check_number,
    "seed": _check_seed,
}


def request_field_problem(key: str, value: Any) -> str | None:
    """What is wrong with one request field's value (``--perf-ab-set``), None when it is fine."""
    check = _REQUEST_FIELD_CHECKS.get(key) or _SCALAR_CHECKS.get(key)
    return None if check is None else check(value)


def _request_fields(name: str, merged: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The API request fields of a scenario, each checked; the first bad one is a one-line error."""
    fields: dict[str, Any] = {}
    for key, check in _REQUEST_FIELD_CHECKS.items():
        value = merged.get(key)
        if value is None:
            continue
        problem = check(value)
        if problem is not None:
            raise ScenarioError(f"{where}: scenario {name!r}: {key!r} {problem}, got {value!r}")
        fields[key] = value
    if "tool_choice" in fields and fields["tool_choice"] != "none" and "tools" not in fields:
        raise ScenarioError(f"{where}: scenario {name!r}: 'tool_choice' needs 'tools'")
    if isinstance(fields.get("top_p"), int):
        fields["top_p"] = float(fields["top_p"])
    if isinstance(fields.get("stop"), list):
        fields["stop"] = tuple(fields["stop"])
    if "tools" in fields:
        fields["tools"] = tuple(dict(tool) for tool in fields["tools"])
    return fields


def build_scenario(
    name: str, spec: Mapping[str, Any], *, where: str, base: Path, defaults: Mapping[str, Any] | None = None
) -> Scenario:
    """Validate one scenario mapping (from YAML or marker kwargs) into a :class:`Scenario`."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ScenarioError(f"{where}: scenario name {name!r} must use letters, digits, '_', '-' or '.'")
    if not isinstance(spec, Mapping):
        raise ScenarioError(f"{where}: scenario {name!r} must be a mapping of fields")
    unknown = sorted(set(spec) - _SCENARIO_KEYS)
    if unknown:
        raise ScenarioError(
            f"{where}: scenario {name!r}: unknown field {unknown[0]!r}; known: {', '.join(sorted(_SCENARIO_KEYS))}"
        )
    merged: dict[str, Any] = {**(defaults or {}), **spec}
    for key in sorted(merged):
        bad = _non_finite(merged[key], key)
        if bad is not None:
            raise ScenarioError(f"{where}: scenario {name!r}: field {bad!r} must be a finite number (no .nan or .inf)")
    messages = merged.get("messages")
    prompt = merged.get("prompt")
    if messages is None and prompt is None:
        raise ScenarioError(f"{where}: scenario {name!r} has no 'messages' (or 'prompt')")
    if messages is not None and prompt is not None and "messages" in spec and "prompt" in spec:
        raise ScenarioError(f"{where}: scenario {name!r}: give 'messages' or 'prompt', not both")
    if messages is None:
        if not isinstance(prompt, str) or not prompt.strip():
            raise ScenarioError(f"{where}: scenario {name!r}: 'prompt' must be non-empty text")
        messages = ([{"role": "system", "content": merged["system"]}] if merged.get("system") else []) + [
            {"role": "user", "content": prompt}
        ]
    if not isinstance(messages, Sequence) or isinstance(messages, str) or not messages:
        raise ScenarioError(f"{where}: scenario {name!r}: 'messages' must be a non-empty list")
    checked: list[dict[str, str]] = []
    for index, message in enumerate(messages):
        if (
            not isinstance(message, Mapping)
            or message.get("role") not in ("system", "user", "assistant")
            or not isinstance(message.get("content"), str)
        ):
            raise ScenarioError(
                f"{where}: scenario {name!r}: messages[{index}] needs 'role' (system|user|assistant) and 'content' text"
            )
        checked.append({"role": message["role"], "content": _expand_files(message["content"], base, where)})
    max_tokens = _positive_int(merged.get("max_completion_tokens"), where, "max_completion_tokens")
    min_tokens = _positive_int(merged.get("min_completion_tokens"), where, "min_completion_tokens")
    if max_tokens is not None and min_tokens is not None and min_tokens > max_tokens:
        raise ScenarioError(f"{where}: scenario {name!r}: min_completion_tokens > max_completion_tokens")
    tolerances = merged.get("tolerances") or {}
    if not isinstance(tolerances, Mapping):
        raise ScenarioError(f"{where}: scenario {name!r}: 'tolerances' must map metric -> fraction")
    for metric, value in tolerances.items():
        if metric != "default" and not (metric in METRICS and METRICS[metric].gateable):
            known = ", ".join(["default", *(m for m, spec in METRICS.items() if spec.gateable)])
            raise ScenarioError(
                f"{where}: scenario {name!r}: tolerances.{metric}: not a gateable metric; known: {known}"
            )
        unknown = sorted(set(value) - set(_TOLERANCE_KEYS)) if isinstance(value, Mapping) else []
        if unknown:
            raise ScenarioError(
                f"{where}: scenario {name!r}: tolerances.{metric}.{unknown[0]}: unknown key; "
                f"expected {' or '.join(_TOLERANCE_KEYS)}"
            )
        numbers = value.values() if isinstance(value, Mapping) else [value]
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 for v in numbers):
            raise ScenarioError(f"{where}: scenario {name!r}: tolerances.{metric} must be a non-negative number")
    temperature = merged.get("temperature")
    if temperature is not None and not isinstance(temperature, (int, float)):
        raise ScenarioError(f"{where}: scenario {name!r}: 'temperature' must be a number")
    extra_body = merged.get("extra_body") or {}
    if not isinstance(extra_body, Mapping):
        raise ScenarioError(f"{where}: scenario {name!r}: 'extra_body' must be a mapping")
    seed = merged.get("seed")
    prompt_cache = merged.get("prompt_cache", "warm")
    if prompt_cache not in PROMPT_CACHE:
        raise ScenarioError(
            f"{where}: scenario {name!r}: 'prompt_cache' must be one of {', '.join(PROMPT_CACHE)}, got {prompt_cache!r}"
        )
    try:
        slo = parse_slo(merged.get("slo"), f"{where}: scenario {name!r}")
    except ValueError as exc:
        raise ScenarioError(str(exc)) from None
    return Scenario(
        name=name,
        messages=tuple(checked),
        source=where,
        max_completion_tokens=max_tokens,
        min_completion_tokens=min_tokens,
        temperature=None if temperature is None else float(temperature),
        seed=seed if isinstance(seed, int) else None,
        description=str(merged.get("description") or ""),
        extra_body=dict(extra_body),
        tolerances=dict(tolerances),
        slo=slo,
        prompt_cache="cold" if prompt_cache == "cold" else "warm",
        **_request_fields(name, merged, where),
    )


def load_scenarios(path: Path) -> dict[str, Scenario]:
    """Load every scenario of a file, in file order. Raises :class:`ScenarioError` with file:line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read scenarios file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: the scenarios file is not UTF-8 text (byte {exc.start})") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ScenarioError(f"{path}{line}: invalid YAML: {problem}") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("scenarios"), Mapping) or not data["scenarios"]:
        raise ScenarioError(f"{path}: expected a top-level 'scenarios:' mapping of name -> scenario")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        raise ScenarioError(f"{path}: 'defaults' must be a mapping")
    nodes: dict[str, yaml.Node] = {}
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if key.value == "scenarios" and isinstance(value, yaml.MappingNode):
                nodes = {k.value: k for k, _ in value.value}
    return {
        str(name): build_scenario(
            str(name), spec, where=_where(path, nodes.get(str(name))), base=path.parent, defaults=defaults
        )
        for name, spec in data["scenarios"].items()
    }


def find_scenarios_file(start: Path, root: Path) -> Path | None:
    """``scenarios.yaml`` in ``start`` or the nearest parent up to ``root`` (the way conftest.py is found)."""
    current = start.resolve()
    stop = root.resolve()
    while True:
        candidate = current / "scenarios.yaml"
        if candidate.is_file():
            return candidate
        if current == stop or current.parent == current:
            return None
        current = current.parent


def select(available: Mapping[str, Scenario], names: Sequence[str], *, where: str) -> list[Scenario]:
    """The named scenarios (all, when no name is given); unknown names list the known ones."""
    if not names:
        return list(available.values())
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ScenarioError(f"{where}: unknown scenario {unknown[0]!r}; known: {', '.join(available) or '(none)'}")
    return [available[n] for n in names]
