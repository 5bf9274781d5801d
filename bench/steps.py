"""Run a benchmark's steps one child process each, and resume after the last finished one.

A first load at a million customers takes hours, longer than one working stretch: a run may
be stopped (a killed step, a closed terminal, a full disk). Each finished step's figures are
written to a state file in the work dir at once, so the same command run again prints the
recorded figures of the finished steps and starts at the first unfinished one; `restart`
starts over. A step that failed or was stopped half-way runs again from its beginning, so
steps must be safe to rerun (the project's jobs are: loads are idempotent, builds rebuild).
A stopped attempt's time is kept too (`stopped` in the state file, from a heartbeat the run
writes every 30 s, so a run killed outright still counts up to its last heartbeat): a step
that resumes its own work (ingestion keeps the loads it finished) spent it for real.

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
ATTEMPT_FILE = "bench_attempt.json"  # the running attempt: step, start, last heartbeat
HEARTBEAT_S = 30.0
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
    """The recorded run: its parameters, the finished steps' figures in order, and the
    seconds of each step's stopped attempts (an attempt a killed run left is added here)."""
    path = workdir / STATE_FILE
    if not path.exists():
        return {"params": None, "finished": {}, "stopped": {}}
    try:
        state = json.loads(path.read_text())
        finished = {name: StepFigures(**figures) for name, figures in state["finished"].items()}
        stopped = {
            name: [float(seconds) for seconds in attempts]
            for name, attempts in state.get("stopped", {}).items()
        }
    except (ValueError, KeyError, TypeError) as exc:
        raise StateMismatch(
            f"the state file {path} cannot be read ({exc.__class__.__name__}): "
            "run with --restart to start over"
        ) from None
    left = Attempt.left_by_a_killed_run(workdir)
    if left is not None:
        stopped.setdefault(left[0], []).append(left[1])
    return {"params": state["params"], "finished": finished, "stopped": stopped}


def save_state(
    workdir: Path,
    params: Mapping[str, object],
    finished: dict,
    stopped: Mapping[str, list[float]] | None = None,
) -> None:
    """Write the state atomically: a run stopped while writing keeps the previous state."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / STATE_FILE
    text = json.dumps(
        {
            "params": dict(params),
            "finished": {name: asdict(figures) for name, figures in finished.items()},
            "stopped": {name: list(attempts) for name, attempts in (stopped or {}).items()},
        },
        indent=2,
    )
    _write_atomically(path, text)


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(text)
    os.replace(partial, path)


class Attempt:
    """The running attempt of a step, on disk with a heartbeat, so that its time counts
    even when the whole run is killed (the next run reads what it left)."""

    def __init__(self, workdir: Path, step: str) -> None:
        self.path = workdir / ATTEMPT_FILE
        self.step = step
        self.started = time.time()
        self.beat()

    def beat(self) -> None:
        """Record that the attempt is still running."""
        record = {"step": self.step, "started": self.started, "alive": time.time()}
        _write_atomically(self.path, json.dumps(record))

    def stopped(self) -> float:
        """The attempt ended without finishing: its seconds; the file is removed."""
        self.path.unlink(missing_ok=True)
        return time.time() - self.started

    def finished(self) -> None:
        """The attempt finished: its figures are the step's; the file is removed."""
        self.path.unlink(missing_ok=True)

    @staticmethod
    def left_by_a_killed_run(workdir: Path) -> tuple[str, float] | None:
        """(step, seconds up to its last heartbeat) of an attempt a killed run left."""
        path = workdir / ATTEMPT_FILE
        if not path.exists():
            return None
        try:
            record = json.loads(path.read_text())
            left = str(record["step"]), max(0.0, record["alive"] - record["started"])
        except (ValueError, KeyError, TypeError):
            left = None  # half-written: the attempt's time is unknown
        path.unlink()
        return left


def stopped_note(attempts: Sequence[float]) -> str:
    """`; before it 2 stopped attempts, 62 min 05 s` (empty without any)."""
    if not attempts:
        return ""
    total = sum(attempts)
    many = "s" if len(attempts) > 1 else ""
    minutes, seconds = divmod(round(total), 60)
    return f"; before it {len(attempts)} stopped attempt{many}, {minutes} min {seconds:02d} s"


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

    def __init__(
        self, session: int, data_dir: Path, heartbeat: Callable[[], None] | None = None
    ) -> None:
        super().__init__(daemon=True)
        self.session, self.data_dir = session, data_dir
        self.heartbeat = heartbeat
        self.tree_rss = 0
        self.disk_peak = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        next_walk = 0.0
        next_beat = time.monotonic() + HEARTBEAT_S
        while not self._stop_event.is_set():
            if self.heartbeat is not None and time.monotonic() >= next_beat:
                with suppress(OSError):  # a full disk must not stop the sampling
                    self.heartbeat()
                next_beat = time.monotonic() + HEARTBEAT_S
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
    step: Step,
    data_dir: Path,
    log: Path,
    env: Mapping[str, str] | None = None,
    heartbeat: Callable[[], None] | None = None,
) -> StepFigures:
    """Run the step as a child process (output to `log`) and return its figures; raise
    StepFailed when it exits with an error or by a signal. `heartbeat` is called every
    HEARTBEAT_S while it runs."""
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
        sampler = Sampler(child.pid, data_dir, heartbeat)
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
        (workdir / ATTEMPT_FILE).unlink(missing_ok=True)
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
    stopped: dict[str, list[float]] = state["stopped"]
    # recorded before the first step, so that a run stopped during it can be resumed
    save_state(workdir, params, finished, stopped)
    for step in steps:
        earlier = stopped_note(stopped.get(step.name, []))
        if step.name in finished:
            echo(f"{step.name}: recorded, {describe(step, finished[step.name])}{earlier}")
            continue
        echo(f"{step.name}: running {shown(step.command)}")
        for name in step.fresh:
            shutil.rmtree(data_dir / name, ignore_errors=True)
        attempt = Attempt(workdir, step.name)
        try:
            figures = measure(step, data_dir, log_path(workdir, step), env, attempt.beat)
        except (StepFailed, KeyboardInterrupt) as exc:
            stopped.setdefault(step.name, []).append(attempt.stopped())
            save_state(workdir, params, finished, stopped)
            if isinstance(exc, KeyboardInterrupt):
                raise StepFailed(
                    f"stopped during '{step.name}'; run the same command again to resume there"
                ) from None
            raise StepFailed(
                f"{exc}; log: {log_path(workdir, step)}. Run the same command again to resume "
                f"at '{step.name}'"
            ) from None
        attempt.finished()
        finished[step.name] = figures
        save_state(workdir, params, finished, stopped)
        echo(f"{step.name}: done, {describe(step, figures)}{earlier}")
        if figures.output:
            echo(f"    {figures.output}")
    return finished
