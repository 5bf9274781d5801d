"""Run a benchmark's steps one child process each, and resume after the last finished one.

A first load at a million customers takes hours, longer than one working stretch: a run may
be stopped (a killed step, a closed terminal, a full disk). Each finished step's figures are
written to a state file in the work dir at once, so the same command run again prints the
recorded figures of the finished steps and starts at the first unfinished one; `restart`
starts over. A step that failed or was stopped half-way runs again from its beginning, so
steps must be safe to rerun (the project's jobs are: loads are idempotent, builds rebuild).

Each step is a child process in a session of its own, so that its figures are its own:
- peak RSS: the kernel's maximum resident set of the child as `wait4` reports it, which
  covers the child and the descendants it waited for (the largest one process, not a sum);
- tree RSS: the resident sets of every process in the step's session added up, sampled once
  a second (a step that starts helper processes holds them at the same time);
- disk: the allocated size of the data dir after the step, and its peak sampled while the
  step runs (every 2 s, or less often when the directory takes long to walk).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path

STATE_FILE = "bench_state.json"
LOG_DIR = "logs"
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
RSS_EVERY_S = 1.0
DISK_EVERY_S = 2.0
# the disk walk may take at most this share of the time between two walks
DISK_WALK_SHARE = 0.1

Echo = Callable[[str], None]


@dataclass(frozen=True)
class Step:
    """One job of the benchmark: a command line run as a child process."""

    name: str
    command: tuple[str, ...]
    stage: str = ""
    # paths under the data dir removed before the step runs: what a stopped attempt may have
    # left half-written where the step cannot start over by itself
    fresh: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepFigures:
    """What one step cost; bytes throughout."""

    seconds: float
    peak_rss: int  # largest resident set of one process of the step (kernel's count)
    tree_rss: int  # largest sampled sum over the step's processes
    disk_after: int  # data dir once the step is done
    disk_peak: int  # largest sampled size of the data dir during the step
    output: str  # the last line the step printed


class StepFailed(RuntimeError):
    """A step exited with an error or was stopped; the steps before it stay recorded."""


class StateMismatch(ValueError):
    """The work dir holds a run with other parameters: resuming it would mix two runs."""


# ---------- the state file


def load_state(workdir: Path) -> dict:
    """The recorded run: its parameters and the finished steps' figures, in order."""
    path = workdir / STATE_FILE
    if not path.exists():
        return {"params": None, "finished": {}}
    try:
        state = json.loads(path.read_text())
        finished = {name: StepFigures(**figures) for name, figures in state["finished"].items()}
    except (ValueError, KeyError, TypeError) as exc:
        raise StateMismatch(
            f"the state file {path} cannot be read ({exc.__class__.__name__}): "
            "run with --restart to start over"
        ) from None
    return {"params": state["params"], "finished": finished}


def save_state(workdir: Path, params: Mapping[str, object], finished: dict) -> None:
    """Write the state atomically: a run stopped while writing keeps the previous state."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / STATE_FILE
    text = json.dumps(
        {
            "params": dict(params),
            "finished": {name: asdict(figures) for name, figures in finished.items()},
        },
        indent=2,
    )
    partial = path.with_suffix(".partial")
    partial.write_text(text)
    os.replace(partial, path)


# ---------- measuring


def dir_bytes(root: Path) -> int:
    """Disk allocated to the files under `root` (hard links counted once; a file removed
    during the walk is skipped)."""
    total, seen, pending = 0, set(), [root]
    while pending:
        try:
            entries = list(os.scandir(pending.pop()))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(Path(entry.path))
                    continue
                info = entry.stat(follow_symlinks=False)
            except (FileNotFoundError, PermissionError):
                continue
            if (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                total += info.st_blocks * 512
    return total


def session_rss(session: int) -> int:
    """Resident bytes of every process in `session` added up."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp session ... rss ...": comm may hold spaces and parens
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[3]) == session:
            total += int(fields[21]) * PAGE_BYTES
    return total


class Sampler(threading.Thread):
    """Samples the step's session RSS and the data dir's size until stopped."""

    def __init__(self, session: int, data_dir: Path) -> None:
        super().__init__(daemon=True)
        self.session, self.data_dir = session, data_dir
        self.tree_rss = 0
        self.disk_peak = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        next_walk = 0.0
        while not self._stop_event.is_set():
            self.tree_rss = max(self.tree_rss, session_rss(self.session))
            if time.monotonic() >= next_walk:
                started = time.monotonic()
                self.disk_peak = max(self.disk_peak, dir_bytes(self.data_dir))
                took = time.monotonic() - started
                next_walk = started + max(DISK_EVERY_S, took / DISK_WALK_SHARE)
            self._stop_event.wait(RSS_EVERY_S)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


@contextmanager
def _terminate_on_sigterm() -> Iterator[None]:
    """A SIGTERM to the runner stops it like Ctrl-C does, so the step's processes are ended
    and nothing half-done is recorded (only in the main thread, where handlers can be set)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _last_line(log: Path) -> str:
    """The last non-blank line of a log (a CLI's one-line answer), without its end."""
    with log.open("rb") as handle:
        handle.seek(max(0, log.stat().st_size - 8192))
        lines = handle.read().decode(errors="replace").splitlines()
    return next((line.strip() for line in reversed(lines) if line.strip()), "")


def measure(
    step: Step, data_dir: Path, log: Path, env: Mapping[str, str] | None = None
) -> StepFigures:
    """Run the step as a child process (output to `log`) and return its figures; raise
    StepFailed when it exits with an error or by a signal."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with log.open("wb") as output, _terminate_on_sigterm():
        child = subprocess.Popen(
            step.command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
        sampler = Sampler(child.pid, data_dir)
        sampler.start()
        try:
            _, status, usage = os.wait4(child.pid, 0)
        except BaseException:  # stopped (Ctrl-C, SIGTERM): end the step's processes too
            with suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            raise
        finally:
            sampler.stop()
        child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    _end_session(child.pid)
    if child.returncode != 0:
        how = (
            f"was killed by signal {-child.returncode}"
            if child.returncode < 0
            else f"failed (exit {child.returncode})"
        )
        last = _last_line(log)
        raise StepFailed(f"step '{step.name}' {how}" + (f": {last}" if last else ""))
    disk_after = dir_bytes(data_dir)
    return StepFigures(
        seconds=seconds,
        peak_rss=usage.ru_maxrss * 1024,
        tree_rss=max(sampler.tree_rss, usage.ru_maxrss * 1024),
        disk_after=disk_after,
        disk_peak=max(sampler.disk_peak, disk_after),
        output=_last_line(log),
    )


def _end_session(session: int) -> None:
    """End what a finished step left running in its session (a server it started)."""
    with suppress(ProcessLookupError):
        os.killpg(session, signal.SIGTERM)


# ---------- the runner


def shown(command: Sequence[str]) -> str:
    """The command line as a user would type it: the program by its name only."""
    return shlex.join([Path(command[0]).name, *command[1:]])


def log_path(workdir: Path, step: Step) -> Path:
    """Where a step's output goes (the last attempt's)."""
    return workdir / LOG_DIR / f"{step.name.replace(' ', '-')}.log"


def run_steps(
    steps: Sequence[Step],
    workdir: Path,
    params: Mapping[str, object],
    data_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    restart: bool = False,
    echo: Echo = print,
    describe: Callable[[Step, StepFigures], str] | None = None,
) -> dict[str, StepFigures]:
    """Run the steps not yet recorded in `workdir`, in order, recording each as it finishes.

    `params` identify the run: a work dir recorded with other params is refused
    (StateMismatch) unless `restart`, which also removes `data_dir`. A failed step raises
    StepFailed after the steps before it are recorded; the next call starts at it.
    """
    names = [step.name for step in steps]
    if len(set(names)) != len(names):
        raise ValueError("step names must be unique")
    describe = describe or (lambda step, figures: f"{figures.seconds:.1f} s")
    if restart and (workdir / STATE_FILE).exists():
        # only what a recorded run made: a --workdir given by mistake loses nothing
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(workdir / LOG_DIR, ignore_errors=True)
        (workdir / STATE_FILE).unlink()
    state = load_state(workdir)
    if state["params"] is None and data_dir.exists() and any(data_dir.iterdir()):
        raise StateMismatch(
            f"{data_dir} holds data that no benchmark run recorded: give an empty or new --workdir"
        )
    if state["params"] is not None and state["params"] != dict(params):
        recorded = ", ".join(f"{k}={v}" for k, v in state["params"].items())
        raise StateMismatch(
            f"the work dir {workdir} holds a run of {recorded}: run with --restart to start "
            "over, or give another --workdir"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    finished: dict[str, StepFigures] = state["finished"]
    # recorded before the first step, so that a run stopped during it can be resumed
    save_state(workdir, params, finished)
    for step in steps:
        if step.name in finished:
            echo(f"{step.name}: recorded, {describe(step, finished[step.name])}")
            continue
        echo(f"{step.name}: running {shown(step.command)}")
        for name in step.fresh:
            shutil.rmtree(data_dir / name, ignore_errors=True)
        try:
            figures = measure(step, data_dir, log_path(workdir, step), env)
        except StepFailed as exc:
            raise StepFailed(
                f"{exc}; log: {log_path(workdir, step)}. Run the same command again to resume "
                f"at '{step.name}'"
            ) from None
        except KeyboardInterrupt:
            raise StepFailed(
                f"stopped during '{step.name}'; run the same command again to resume there"
            ) from None
        finished[step.name] = figures
        save_state(workdir, params, finished)
        echo(f"{step.name}: done, {describe(step, figures)}")
        if figures.output:
            echo(f"    {figures.output}")
    return finished
