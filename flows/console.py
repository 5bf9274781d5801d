"""The terminal while a long job runs: one aligned line per step with its time, live progress
on a terminal, and everything else (prints, library logs, Prefect's run lines) sent to a log
file, with errors still shown as one line each. Also the `churn` app's one answer to bad input
and failures: a line saying what is wrong and what to do, and an exit code."""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TextIO

import typer
from typer.core import TyperGroup

try:  # typer vendors click (typer._click) from 0.2x on; before, it used click itself
    from typer._click import exceptions as cli_errors
except ImportError:  # pragma: no cover - older typer
    from click import exceptions as cli_errors

from warehouse.redaction import redact
from warehouse.settings import Settings

_ABORTS = (typer.Abort, getattr(cli_errors, "Abort", typer.Abort))


@dataclass
class _Running:
    """The step being printed: its label, its progress, and where its time is measured from."""

    prefix: str
    text: str
    mark: float = field(default_factory=time.perf_counter)
    detail: str = ""
    count: int = 0
    splits: int = 0

    def label(self, text: str | None = None) -> str:
        body = text if text is not None else self.text
        return f"{self.prefix}{body}" + (f"  {self.detail}" if self.detail else "")


class StepPrinter:
    """One aligned line per finished step, with its time.

    On a terminal the running step's line is redrawn in place with its progress and elapsed
    time; elsewhere (CI logs, pipes) only finished lines are written, one per step.
    """

    WIDTH = 56  # the label and its dots; the time follows

    def __init__(
        self, out: TextIO | None = None, live: bool | None = None, err: TextIO | None = None
    ) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.live = self.out.isatty() if live is None else live
        self.tick = 0.5  # seconds between redraws of the elapsed time
        self._lock = threading.RLock()  # dbt reports progress from its worker threads
        self._running: _Running | None = None
        self._drawn = 0.0

    def note(self, text: str) -> None:
        """A plain line: a header, where the logs are."""
        with self._lock:
            self._print(text)

    def error(self, text: str) -> None:
        """An error line, on stderr, without breaking the running step's line."""
        with self._lock:
            self._clear()
            self.err.write(text + "\n")
            self.err.flush()
            self._redraw()

    @contextmanager
    def step(self, text: str, prefix: str = "") -> Iterator[None]:
        """Time the block as one step and print its line; a failure marks it failed and
        propagates."""
        running = _Running(prefix, text)
        with self._lock:
            self._running = running
            self._redraw()
        stop = threading.Event()
        ticker = threading.Thread(target=self._tick, args=(stop,), daemon=True)
        if self.live:
            ticker.start()
        failed = True
        try:
            yield
            failed = False
        finally:
            stop.set()
            if ticker.is_alive():
                ticker.join()
            self._finish(running, failed)

    def progress(self, detail: str) -> None:
        """Say how far the running step is (shown live on a terminal)."""
        with self._lock:
            if self._running is None:
                return
            self._running.detail = detail
            if time.perf_counter() - self._drawn > 0.1:
                self._redraw()

    def nodes(self, done: int, total: int) -> None:
        """dbt's progress callback: nodes done of the total."""
        self.progress(f"{done}/{total} nodes")

    def count(self, unit: str) -> None:
        """One more `unit` done, for a step whose total is not known in advance."""
        with self._lock:
            if self._running is None:
                return
            self._running.count += 1
            n = self._running.count
        self.progress(f"{n} {unit}{'' if n == 1 else 's'}")

    def split(self, text: str, failed: bool = False) -> None:
        """Print a finished part of the running step (a task of a flow) with the time since the
        step or its previous part began."""
        with self._lock:
            running = self._running
            if running is None:
                return
            line = self._line(running.label(text), running.mark, failed)
            running.mark, running.detail, running.count = time.perf_counter(), "", 0
            running.splits += 1
            self._print(line)

    def _finish(self, running: _Running, failed: bool) -> None:
        with self._lock:
            self._running = None
            if running.splits and not failed:
                self._clear()  # its parts have been printed
            else:
                self._print(self._line(running.label(), running.mark, failed))

    def _tick(self, stop: threading.Event) -> None:
        while not stop.wait(self.tick):
            with self._lock:
                self._redraw()

    def _line(self, label: str, since: float, failed: bool = False) -> str:
        seconds = time.perf_counter() - since
        timing = f"failed after {seconds:.1f} s" if failed else f"{seconds:6.1f} s"
        return f"  {label} {'.' * max(self.WIDTH - len(label) - 1, 1)} {timing}"

    def _redraw(self) -> None:
        if not self.live or self._running is None:
            return
        running = self._running
        width = shutil.get_terminal_size().columns - 1
        self._write("\r" + self._line(running.label(), running.mark)[:width] + "\x1b[K")
        self._drawn = time.perf_counter()

    def _clear(self) -> None:
        if self.live:
            self._write("\r\x1b[K")

    def _print(self, line: str) -> None:
        self._clear()
        self._write(line + "\n")
        self._redraw()

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()


OUR_LOGGERS = ("churn", "flows", "ingestion", "models_ml", "simulator", "warehouse")


@contextmanager
def quiet_terminal(log_file: Path, printer: StepPrinter | None = None) -> Iterator[None]:
    """Send what runs inside to `log_file`: prints, warnings and log records from INFO up (ours,
    Prefect's run lines, MLflow's). ERROR records still reach the terminal, one line each
    through `printer` (their tracebacks stay in the file, with that of a failure)."""
    errors = _ErrorLines(printer or StepPrinter(live=False))
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        stream = stack.enter_context(log_file.open("a", encoding="utf-8", buffering=1))
        to_file = logging.StreamHandler(stream)
        to_file.setLevel(logging.INFO)
        to_file.setFormatter(_LogFormat())
        loggers, terminal = _terminal_handlers()
        for logger in loggers:
            stack.enter_context(_handler(logger, to_file))
            stack.enter_context(_handler(logger, errors))
        stack.enter_context(_silenced(terminal))
        stack.enter_context(_levels(OUR_LOGGERS, logging.INFO))
        stack.enter_context(redirect_stdout(stream))
        stack.enter_context(redirect_stderr(stream))
        try:
            yield
        except BaseException:
            stream.write(traceback.format_exc())
            raise


def _run_name(record: logging.LogRecord) -> str | None:
    return getattr(record, "task_run_name", None) or getattr(record, "flow_run_name", None)


class _LogFormat(logging.Formatter):
    """Plain lines, each naming its logger; Prefect's run records also name their run."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s%(run)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        run = _run_name(record)
        record.run = f" [{run}]" if run else ""
        return super().format(record)


class _ErrorLines(logging.Handler):
    """An ERROR record as one line on the terminal: a failed task's or flow's own traceback
    would bury the step lines and is in the log file anyway."""

    LIMIT = 240  # characters of the message's first line

    def __init__(self, printer: StepPrinter) -> None:
        super().__init__(logging.ERROR)
        self.printer = printer

    def emit(self, record: logging.LogRecord) -> None:
        run = _run_name(record)
        where = record.name + (f" [{run}]" if run else "")
        message = (record.getMessage().strip().splitlines() or [""])[0]
        if len(message) > self.LIMIT:
            message = message[: self.LIMIT] + " ..."
        self.printer.error(f"  {record.levelname.lower()}: {where}: {message}")


@contextmanager
def _handler(logger: logging.Logger, handler: logging.Handler) -> Iterator[None]:
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def _terminal_handlers() -> tuple[list[logging.Logger], list[logging.Handler]]:
    """Handlers writing to the terminal (Prefect binds its console handler to stderr when it
    configures logging at import), and the loggers whose records reach them: the root, and any
    logger that does not pass its records up to it."""
    terminal = {sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__}
    root = logging.getLogger()
    loggers = [root] + [
        item
        for item in logging.Logger.manager.loggerDict.values()
        if isinstance(item, logging.Logger)
    ]
    handlers: dict[int, logging.Handler] = {}
    routed = [root]
    for logger in loggers:
        found = [
            h
            for h in logger.handlers
            if isinstance(h, logging.StreamHandler)
            and not isinstance(h, logging.FileHandler)
            and getattr(h, "stream", None) in terminal
        ]
        handlers.update((id(h), h) for h in found)
        if found and logger is not root and not logger.propagate:
            routed.append(logger)
    return routed, list(handlers.values())


@contextmanager
def _silenced(handlers: list[logging.Handler]) -> Iterator[None]:
    saved = [(h, h.level) for h in handlers]
    for h in handlers:
        h.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for h, level in saved:
            h.setLevel(level)


@contextmanager
def _levels(names: tuple[str, ...], level: int) -> Iterator[None]:
    """Our INFO lines are worth keeping in the file; the root stays at WARNING."""
    saved = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(level)
    try:
        yield
    finally:
        for name, old in saved.items():
            logging.getLogger(name).setLevel(old)


class _FlowRunLines(logging.Handler):
    """Turns Prefect's run records into step lines: the flow run's start (mostly the temporary
    API server) and each finished task, timed."""

    def __init__(self, printer: StepPrinter) -> None:
        super().__init__(logging.INFO)
        self.printer = printer

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.name == "prefect.flow_runs" and message.startswith("Beginning flow run"):
            self.printer.split("start Prefect")
        elif record.name == "prefect.task_runs" and message.startswith("Finished in state"):
            name = getattr(record, "task_name", "task")
            self.printer.split(name, failed=record.levelno >= logging.ERROR)


class _SourceCounter(logging.Handler):
    """Counts loaded sources: ingestion logs one INFO line per source it loaded."""

    def __init__(self, printer: StepPrinter) -> None:
        super().__init__(logging.INFO)
        self.printer = printer

    def emit(self, record: logging.LogRecord) -> None:
        self.printer.count("source")


@contextmanager
def progress_lines(printer: StepPrinter) -> Iterator[None]:
    """Feed the printer from the log records the jobs write anyway (ingestion, Prefect)."""
    with (
        _handler(logging.getLogger("prefect"), _FlowRunLines(printer)),
        _handler(logging.getLogger("ingestion.runner"), _SourceCounter(printer)),
    ):
        yield


def log_dir(settings: Settings) -> Path:
    """Where the demo's logs go: `dbt.log` (dbt's node log) and `demo.log` (the rest)."""
    return (settings.data_dir / "logs").resolve()


# ---------- the command line's answer to bad input and failures

DEBUG_ENV = "CHURN_DEBUG"
# packages whose exception classes are written for the person at the terminal: their message
# says what is wrong and what to do, so it is shown as it is
OUR_PACKAGES = (
    "warehouse",
    "ingestion",
    "models_ml",
    "flows",
    "simulator",
    "dashboards",
    "serving",
)
LINE_LIMIT = 1000  # characters of an error line


def parse_date(value: str | date) -> date:
    """Typer parser of a YYYY-MM-DD option: a bad date is a usage error (exit 2)."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date: use YYYY-MM-DD") from None


def debug_enabled() -> bool:
    """`--debug` or CHURN_DEBUG=1: show the traceback of a failure, not only its line."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _is_ours(exc: BaseException) -> bool:
    return any(
        cls.__module__.split(".")[0] in OUR_PACKAGES
        for cls in type(exc).__mro__
        if issubclass(cls, BaseException)
    )


def error_code(exc: BaseException) -> int:
    """2 for bad input (one of our errors that is also a ValueError, e.g. an invalid version
    or action), 1 for a failure at run time (a locked warehouse, a failed dbt node)."""
    return 2 if _is_ours(exc) and isinstance(exc, ValueError) else 1


def clean(text: str, settings: Settings | None = None) -> str:
    """`text` on one line, without secrets or this machine's paths: the data folder shows as
    configured (`data/...`), the working directory's paths relative, other absolute paths as
    `.../<name>`."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    joined = ""
    for line in lines:
        joined += line if not joined else (" " if joined.endswith(":") else "; ") + line
    masked = redact(joined)
    roots: list[tuple[str, str]] = []
    if settings is not None:
        data = Path(settings.data_dir)
        shown = str(data) if not data.is_absolute() else "$CHURN_DATA_DIR"
        roots.append((str(data.resolve()), shown + "/"))
    roots += [(str(Path.cwd()), ""), (str(Path.home()), "~/")]
    for root, shown in roots:
        if root not in ("/", ""):
            masked = masked.replace(root + "/", shown)
            masked = re.sub(re.escape(root) + r"(?![\w.-])", shown.rstrip("/") or ".", masked)
    masked = _ABSOLUTE_PATH.sub(lambda m: f".../{m['name']}", masked)
    return masked if len(masked) <= LINE_LIMIT else masked[:LINE_LIMIT] + " ..."


# an absolute path of two or more parts, not inside a URL (`http://host/a/b`, `file:///...`)
_ABSOLUTE_PATH = re.compile(r"(?<![\w:/.~$-])/(?:[\w.@+-]+/)+(?P<name>[\w.@+-]+)")


def report_failure(exc: BaseException, settings: Settings | None = None) -> int:
    """Print `exc` as one `error:` line on stderr (and its traceback when debugging); return
    the exit code."""
    message = clean(str(exc), settings) or type(exc).__name__
    if not _is_ours(exc):
        message = f"{type(exc).__name__}: {message}"
    if debug_enabled():
        traceback.print_exception(exc, file=sys.stderr)
    else:
        message += " (rerun with --debug for the traceback)" if not _is_ours(exc) else ""
    typer.echo(f"error: {message}", err=True)
    return error_code(exc)


class ChurnGroup(TyperGroup):
    """The `churn` app: every command answers bad input and failures with one line on stderr
    and an exit code (2 usage error, 1 failure at run time, 130 interrupted), never with a
    traceback unless `--debug` or CHURN_DEBUG=1 asks for it."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,  # noqa: ANN401 - click's
    ) -> Any:  # noqa: ANN401 - click's
        if not standalone_mode:  # the caller handles errors itself
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except cli_errors.NoArgsIsHelpError:
            code = 0  # typer has printed the help
        except cli_errors.ClickException as exc:
            code = exc.exit_code
            typer.echo(f"error: {_usage_line(exc)}", err=True)
        except _ABORTS:
            typer.echo("error: aborted", err=True)
            code = 130
        except Exception as exc:  # noqa: BLE001 - every failure becomes one line
            code = report_failure(exc, _settings_or_none())
        sys.exit(code if isinstance(code, int) else 0)


def _usage_line(exc: cli_errors.ClickException) -> str:
    """Click's message, with where to read the command's usage."""
    line = clean(exc.format_message()).rstrip()
    line += "" if line.endswith((".", "!", "?")) else "."
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        line += f" See '{ctx.command_path} --help'."
    return line


def _settings_or_none() -> Settings | None:
    from warehouse.settings import get_settings

    try:
        return get_settings()
    except Exception:  # noqa: BLE001 - bad settings are what may have failed
        return None
