"""pytest hooks only: options, marker, parametrization, fixture, gate failures, terminal, files.

Everything with logic lives in modules a unit test can reach (settings, scenarios, session,
terminal, artifacts); this file wires them to pytest. The modules that measure (the SDK, scipy,
numpy) are imported inside the hooks that start measuring, so a session with the plugin on but
no perf test to run never loads them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import cli, distributed, messages, progress, signals, terminal
from .caveats import caveat
from .redact import RedactedWriter, redact_report
from .scenarios import Scenario, ScenarioError, build_scenario, find_scenarios_file, load_scenarios, select
from .settings import AB_KEY_ENV, OPTIONS, RawValues, Settings, SettingsError, choose_kind, resolve

if TYPE_CHECKING:  # the SDK, scipy and numpy load only when a perf test runs (see _start)
    from .metrics import Sample
    from .records import Run, ScenarioRecord
    from .session import PerfSession

SETTINGS_KEY = pytest.StashKey[Settings]()
SESSION_KEY: pytest.StashKey[PerfSession] = pytest.StashKey()
RECORDS_KEY: pytest.StashKey[list[ScenarioRecord]] = pytest.StashKey()
WRITTEN_KEY = pytest.StashKey[dict[str, Path]]()
START_ERROR_KEY = pytest.StashKey[str]()
RESTORE_SIGTERM_KEY = pytest.StashKey[Callable[[], None]]()
FIXTURE = "cerebras_call"
CASE_ARG = "_cerebras_perf_case"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cerebras-perf", "LLM inference performance (pytest-cerebras-perf)")
    for option in OPTIONS:
        env = f" [env {option.env}]" if option.env else ""
        if option.is_flag:
            group.addoption(
                option.flag, action="store_true", default=None, dest=option.dest, help=cli.escape(option.help + env)
            )
            parser.addini(option.ini, option.help, type="bool", default=False)
            continue
        repeatable = option.repeatable
        shown_default = "" if repeatable else f" (default {option.default})"
        group.addoption(
            option.flag,
            action="append" if repeatable else "store",
            default=None,
            dest=option.dest,
            metavar=option.metavar,
            help=cli.escape(option.help + shown_default + env),
        )
        if repeatable:
            parser.addini(option.ini, option.help, type="linelist", default=[])
        else:
            parser.addini(option.ini, option.help, default=None)
    parser.addini("perf_api_key", "API key (prefer CEREBRAS_API_KEY or a .env file)", default=None)


def _api_key(config: pytest.Config) -> str | None:
    key = os.environ.get("CEREBRAS_API_KEY")
    if key:
        return key
    from dotenv import dotenv_values

    for folder in (Path.cwd(), config.rootpath):
        env_file = folder / ".env"
        if env_file.is_file():
            key = dotenv_values(env_file).get("CEREBRAS_API_KEY")
            if key:
                return key
    ini_key = config.getini("perf_api_key")
    return str(ini_key) if ini_key else None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "scenario(*names, name=None, messages=None, prompt=None, max_completion_tokens=None, ...): "
        "parametrize a perf test over scenarios of scenarios.yaml, or define one inline",
    )
    values = RawValues(lambda dest: config.getoption(dest), config.getini, os.environ)
    try:
        config.stash[SETTINGS_KEY] = resolve(
            values, root=config.rootpath, api_key=_api_key(config), ab_api_key=os.environ.get(AB_KEY_ENV)
        )
    except SettingsError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[RESTORE_SIGTERM_KEY] = signals.sigterm_interrupts()
    if distributed.is_worker(config):
        signals.interrupt_once()
        signals.exit_when_orphaned()


def _start(perf: PerfSession, start: Callable[[], None]) -> str | None:
    """Start measuring; on failure close everything and return the reason in one line."""
    from .baselines import BaselineError
    from .target import TargetError

    try:
        start()
    except (TargetError, BaselineError) as exc:
        perf.close()
        return str(exc)
    except Exception as exc:  # emulator start failures and the like: one line, not a traceback
        perf.close()
        return f"cerebras-perf: cannot start measuring: {exc}"
    return None


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under pytest-xdist the controller runs no test: it shares one endpoint and writes the files."""
    config = session.config
    if not distributed.is_controller(config):
        return
    from .session import PerfSession

    perf = PerfSession(config.stash[SETTINGS_KEY], root=config.rootpath)
    error = _start(perf, perf.host)
    if error is not None:
        raise pytest.UsageError(error)
    config.stash[SESSION_KEY] = perf
    config.pluginmanager.register(distributed.ControllerHooks(perf), "cerebras-perf-xdist")


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    settings = config.stash.get(SETTINGS_KEY, None)
    if settings is None:
        return None
    lines = [terminal.header(settings, choose_kind(settings), config.rootpath)]
    warning = cli.rootdir_warning(config.invocation_params.args, config.invocation_params.dir, config.rootpath)
    if warning:
        lines.append(warning)
    perf = config.stash.get(SESSION_KEY, None)  # this early, only an xdist controller has one
    if perf is not None:
        lines.append(terminal.shared_endpoint(perf))
    return lines


# -- collection -------------------------------------------------------------------------------
def _scenarios_for(metafunc: pytest.Metafunc, settings: Settings) -> list[Scenario]:
    module = Path(str(metafunc.module.__file__))
    where = f"{module.name}::{metafunc.function.__name__}"
    markers = list(metafunc.definition.iter_markers("scenario"))
    inline = [m for m in markers if m.kwargs]
    names = [str(n) for m in markers for n in m.args]
    scenarios: list[Scenario] = []
    for marker in inline:
        kwargs = dict(marker.kwargs)
        name = kwargs.pop("name", None) or metafunc.function.__name__
        scenarios.append(build_scenario(str(name), kwargs, where=f"{where} (marker)", base=module.parent))
    if names or not inline:
        path = settings.scenarios_file or find_scenarios_file(module.parent, metafunc.config.rootpath)
        if path is None:
            raise ScenarioError(
                f"{where}: no scenarios.yaml found next to the test or above it; pass --perf-scenarios FILE"
            )
        scenarios.extend(select(load_scenarios(path), names, where=f"{where}: {path}"))
    return scenarios


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if FIXTURE not in metafunc.fixturenames and metafunc.definition.get_closest_marker("scenario") is None:
        return
    settings = metafunc.config.stash[SETTINGS_KEY]
    try:
        scenarios = _scenarios_for(metafunc, settings)
    except ScenarioError as exc:
        raise pytest.Collector.CollectError(str(exc)) from None
    sweep = len(settings.concurrency) > 1
    cases = [(s, c) for s in scenarios for c in settings.concurrency]
    ids = [f"{s.name}-c{c}" if sweep else s.name for s, c in cases]
    metafunc.fixturenames.append(CASE_ARG)
    metafunc.parametrize(CASE_ARG, cases, ids=ids)


def pytest_collection_finish(session: pytest.Session) -> None:
    perf_items = [i for i in session.items if FIXTURE in getattr(i, "fixturenames", ())]
    if not perf_items or session.config.option.collectonly:
        return
    settings = session.config.stash[SETTINGS_KEY]
    gates = len(perf_items) * max(1, len(settings.gate_metrics))
    from .session import PerfSession

    perf = PerfSession(settings, root=session.config.rootpath, n_gates=gates)
    error = _start(perf, lambda: perf.start(distributed.shared_emulator(session.config)))
    if error is None:
        session.config.stash[SESSION_KEY] = perf
        terminal.announce(session.config, perf)
    elif distributed.is_worker(session.config):
        session.config.stash[START_ERROR_KEY] = error  # a worker cannot stop the run: its perf tests error
    else:
        raise pytest.UsageError(error)


# -- the fixture ------------------------------------------------------------------------------
class CerebrasCall:
    """``cerebras_call()`` measures the test's scenario; ``cerebras_call.once()`` makes one request."""

    def __init__(self, perf: PerfSession, scenario: Scenario, concurrency: int, item: pytest.Item) -> None:
        self.perf, self.scenario, self.concurrency, self._item = perf, scenario, concurrency, item

    def __call__(self, **overrides: Any) -> Run:
        from .ab import ABPairingError
        from .records import Run
        from .retry import DailyQuotaExceeded
        from .session import DailyQuotaExceededSkip, RunIdTaken
        from .workers import WorkerLost

        # ``from None``: the reason is the whole story, pytest need not print the quota exception too
        try:
            record = progress.track(
                self._item.config,
                self.perf,
                lambda: self.perf.measure(self.scenario, self.concurrency, self._item.nodeid, overrides),
            )
        except DailyQuotaExceededSkip as exc:
            raise pytest.skip.Exception(str(exc)) from None
        except (DailyQuotaExceeded, RunIdTaken, WorkerLost, ABPairingError) as exc:
            raise pytest.fail.Exception(str(exc), pytrace=False) from None
        self._item.stash.setdefault(RECORDS_KEY, []).append(record)
        return Run(record)

    def once(self, **overrides: Any) -> Sample:
        return self.perf.single(self.scenario, overrides)


@pytest.fixture
def cerebras_call(request: pytest.FixtureRequest) -> CerebrasCall:
    error = request.config.stash.get(START_ERROR_KEY, None)
    if error is not None:
        pytest.fail(error, pytrace=False)
    perf = request.config.stash.get(SESSION_KEY, None)
    if perf is None:
        raise pytest.UsageError("cerebras_call needs the cerebras-perf session (run with -p cerebras_perf)")
    scenario, concurrency = request.node.callspec.params[CASE_ARG]
    return CerebrasCall(perf, scenario, concurrency, request.node)


def _judged(item: pytest.Item) -> str | None:
    """Record the verdicts as JUnit properties; the gate's failure message, if any."""
    records = item.stash.get(RECORDS_KEY, [])
    perf = item.config.stash.get(SESSION_KEY, None)
    for record in records:
        for verdict in record.verdicts:
            item.user_properties.append((f"perf:{record.id}:{verdict.metric}", verdict.verdict))
            why = caveat(verdict.to_json(), record.concurrency)
            if why:
                item.user_properties.append((f"perf:{record.id}:{verdict.metric}:why", why))
    return messages.why_failed(
        records,
        require_baseline=bool(perf and perf.settings.require_baseline),
        max_error_rate=perf.settings.max_error_rate if perf else None,
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """A test that fails its own check keeps its verdicts and shows the gate's message beside its own."""
    try:
        result = yield
    except BaseException:
        message = _judged(item)
        if message:
            item.add_report_section("call", "cerebras-perf gate", message)
        raise
    message = _judged(item)
    if message:
        pytest.fail(message, pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    perf = item.config.stash.get(SESSION_KEY, None)
    if perf is not None and distributed.is_worker(item.config):
        distributed.attach_records(item.config, perf, report)
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    redact_report(report)  # first, so every later reader (terminal, JUnit, xdist) gets the masked text


# -- the end ----------------------------------------------------------------------------------
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    perf = session.config.stash.get(SESSION_KEY, None)
    if perf is None:
        return
    try:
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            perf.mark_partial("interrupted")
        if distributed.is_worker(session.config):
            distributed.hand_over(session.config, perf)  # the controller writes the files
            return
        from .artifacts import write_all  # matplotlib and jinja2 load only when there is something to write

        session.config.stash[WRITTEN_KEY] = write_all(perf, argv=session.config.invocation_params.args)
        if perf.quota_stop and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    finally:
        perf.close()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    perf = config.stash.get(SESSION_KEY, None)
    if perf is not None:
        terminal.summary(RedactedWriter(terminalreporter), perf, config.stash.get(WRITTEN_KEY, None))


def pytest_unconfigure(config: pytest.Config) -> None:
    perf = config.stash.get(SESSION_KEY, None)
    if perf is not None:
        perf.close()
    config.stash.get(RESTORE_SIGTERM_KEY, lambda: None)()
