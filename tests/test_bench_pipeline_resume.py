"""The pipeline benchmark's step runner (bench/steps.py) on trivial steps: what it records,
where it resumes, what `restart` clears, and that its figures measure the step's process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from bench.pipeline import PipelinePlan
from bench.steps import ATTEMPT_FILE, STATE_FILE, StateMismatch, Step, StepFailed, run_steps

PARAMS = {"customers": 10, "seed": 1}
ROOT = Path(__file__).resolve().parents[1]


def _step(data: Path, name: str, code: str) -> Step:
    """A step that appends its name to `data`/ran.txt, then runs `code` in `data`."""
    record = f"import os\nos.chdir({str(data)!r})\nopen('ran.txt', 'a').write({name!r} + '\\n')\n"
    return Step(name, (sys.executable, "-c", record + code))


def _steps(data: Path) -> list[Step]:
    fails_unless_fixed = (
        "import os, sys\n"
        "if not os.path.exists('fixed'):\n"
        "    print('error: the source is down', file=sys.stderr)\n"
        "    sys.exit(3)\n"
    )
    return [
        _step(data, "first", "open('first.out', 'w').write('x' * 100_000)"),
        _step(data, "second", fails_unless_fixed),
        _step(data, "third", "print('third done')"),
    ]


def _ran(data: Path) -> list[str]:
    path = data / "ran.txt"
    return path.read_text().split() if path.exists() else []


def _run(work: Path, steps: list[Step], lines: list[str], **kwargs) -> dict:  # noqa: ANN003
    return run_steps(steps, work, PARAMS, work / "data", echo=lines.append, **kwargs)


def test_a_failed_step_keeps_the_earlier_ones_and_the_rerun_resumes_at_it(tmp_path):
    work, lines = tmp_path / "work", []
    data = work / "data"

    with pytest.raises(StepFailed) as failed:
        _run(work, _steps(data), lines)

    message = str(failed.value)
    assert "'second' failed (exit 3): error: the source is down" in message
    assert "resume at 'second'" in message and "\n" not in message
    state = json.loads((work / STATE_FILE).read_text())
    assert list(state["finished"]) == ["first"]
    assert state["params"] == PARAMS
    assert _ran(data) == ["first", "second"]
    assert list(state["stopped"]) == ["second"] and len(state["stopped"]["second"]) == 1
    assert not (work / ATTEMPT_FILE).exists()

    (data / "fixed").touch()
    lines.clear()
    figures = _run(work, _steps(data), lines)

    assert _ran(data) == ["first", "second", "second", "third"]  # first not run again
    assert list(figures) == ["first", "second", "third"]
    assert lines[0].startswith("first: recorded, ")
    assert figures["third"].output == "third done"
    assert "second: done, " in lines[2] and "; before it 1 stopped attempt, 0 min" in lines[2]
    state = json.loads((work / STATE_FILE).read_text())
    assert list(state["finished"]) == ["first", "second", "third"]

    lines.clear()
    _run(work, _steps(data), lines)  # everything recorded: nothing runs
    assert _ran(data) == ["first", "second", "second", "third"]
    assert [line.split(":")[0] for line in lines] == ["first", "second", "third"]
    assert all(": recorded, " in line for line in lines)


def test_restart_clears_the_state_and_the_data(tmp_path):
    work, lines = tmp_path / "work", []
    data = work / "data"
    steps = [s for s in _steps(data) if s.name != "second"]
    _run(work, steps, lines)
    assert _ran(data) == ["first", "third"]

    _run(work, steps, lines, restart=True)

    assert _ran(data) == ["first", "third"]  # the data dir was emptied, both ran again
    assert list(json.loads((work / STATE_FILE).read_text())["finished"]) == ["first", "third"]


def test_a_killed_step_is_not_recorded_and_is_resumed_from_a_clean_start(tmp_path):
    work, lines = tmp_path / "work", []
    data = work / "data"
    # the first attempt leaves a half-written dir and is killed; the next must not see it
    killed = (
        "import sys\n"
        "if os.path.exists('partial'): sys.exit('error: half-written output found')\n"
        "os.mkdir('partial')\n"
        "if not os.path.exists('fixed'): os.kill(os.getpid(), 9)"
    )
    second = Step("second", _step(data, "second", killed).command, fresh=("partial",))
    steps = [_step(data, "first", ""), second]

    with pytest.raises(StepFailed, match="'second' was killed by signal 9"):
        _run(work, steps, lines)
    assert list(json.loads((work / STATE_FILE).read_text())["finished"]) == ["first"]

    (data / "fixed").touch()
    _run(work, steps, lines)
    assert _ran(data) == ["first", "second", "second"]


def test_a_stopped_runner_ends_the_running_step_and_records_nothing_of_it(tmp_path):
    work, data = tmp_path / "work", tmp_path / "work" / "data"
    pid_file = tmp_path / "step.pid"
    sleeper = f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\nimport time\ntime.sleep(120)"
    steps = [_step(data, "first", ""), _step(data, "second", sleeper)]
    runner = (
        "import sys\nfrom pathlib import Path\nfrom bench.steps import StepFailed, run_steps\n"
        f"steps = {steps!r}\n"
        "try:\n"
        f"    run_steps(steps, Path({str(work)!r}), {PARAMS!r}, Path({str(data)!r}))\n"
        "except StepFailed as exc:\n"
        "    sys.exit(f'error: {exc}')\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", "from bench.steps import Step\n" + runner],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    step_pid = int(pid_file.read_text())

    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)

    assert process.returncode == 1
    assert "stopped during 'second'; run the same command again to resume there" in stderr
    with pytest.raises(ProcessLookupError):
        os.kill(step_pid, 0)  # the step's process is gone with the runner
    assert list(json.loads((work / STATE_FILE).read_text())["finished"]) == ["first"]


def test_a_runner_killed_outright_counts_its_attempt_up_to_the_last_heartbeat(tmp_path):
    work, data = tmp_path / "work", tmp_path / "work" / "data"
    pid_file = tmp_path / "step.pid"
    sleeper = (
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "import time\n"
        "if not os.path.exists('fixed'): time.sleep(120)"
    )
    steps = [_step(data, "first", ""), _step(data, "second", sleeper)]
    runner = (
        "from pathlib import Path\nimport bench.steps as steps_module\n"
        "from bench.steps import Step, run_steps\n"
        "steps_module.HEARTBEAT_S = 0.2\n"
        f"run_steps({steps!r}, Path({str(work)!r}), {PARAMS!r}, Path({str(data)!r}))\n"
    )
    process = subprocess.Popen([sys.executable, "-c", runner], cwd=ROOT)
    deadline = time.monotonic() + 60
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    step_pid = int(pid_file.read_text())
    time.sleep(1.5)
    process.kill()  # no handler runs: only the heartbeat file tells how long it ran
    process.wait(timeout=30)
    os.kill(step_pid, signal.SIGKILL)  # the step runs in a session of its own
    assert (work / ATTEMPT_FILE).exists()

    (data / "fixed").touch()
    lines: list[str] = []
    _run(work, steps, lines)

    state = json.loads((work / STATE_FILE).read_text())
    assert list(state["finished"]) == ["first", "second"]
    (seconds,) = state["stopped"]["second"]
    assert 0.8 <= seconds <= 30
    assert "; before it 1 stopped attempt" in lines[-1]
    assert not (work / ATTEMPT_FILE).exists()


def test_a_work_dir_of_another_run_or_of_unrecorded_data_is_refused(tmp_path):
    work, lines = tmp_path / "work", []
    data = work / "data"
    steps = [_step(data, "first", "")]
    _run(work, steps, lines)

    with pytest.raises(StateMismatch, match="customers=10, seed=1: run with --restart"):
        run_steps(steps, work, {"customers": 20, "seed": 1}, data, echo=lines.append)

    other = tmp_path / "other"
    (other / "data").mkdir(parents=True)
    (other / "data" / "warehouse.duckdb").write_text("someone's data")
    with pytest.raises(StateMismatch, match="no benchmark run recorded"):
        run_steps(steps, other, PARAMS, other / "data", restart=True, echo=lines.append)
    assert (other / "data" / "warehouse.duckdb").exists()  # restart removes only its own


def measure_three_steps(tmp: Path) -> dict:
    """The figures of a memory step, a transient-file step and an empty one, as a dict."""
    work, lines = tmp / "work", []
    data = work / "data"
    grow = "block = bytearray(300 * 2**20)\nfor i in range(0, len(block), 4096): block[i] = 1"
    # a file that exists only while the step runs: seen by the sampler, gone after
    transient = (
        "import os, time\nopen('scratch', 'wb').write(os.urandom(30 * 2**20))\n"
        "time.sleep(4)\nos.remove('scratch')"
    )
    figures = _run(
        work,
        [_step(data, "memory", grow), _step(data, "disk", transient), _step(data, "kept", "")],
        lines,
    )
    return {name: vars(f) for name, f in figures.items()}


def test_figures_measure_the_steps_memory_and_disk(tmp_path):
    # measured from a fresh interpreter: a child's peak RSS counts the memory of the process
    # it was forked from, and late in a test session pytest holds gigabytes
    code = (
        "import json, sys; from pathlib import Path; "
        "from tests.test_bench_pipeline_resume import measure_three_steps as m; "
        "print(json.dumps(m(Path(sys.argv[1])), default=str))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    figures = {
        name: type("Figures", (), values)
        for name, values in json.loads(out.stdout.strip().splitlines()[-1]).items()
    }

    assert figures["memory"].peak_rss > 300 * 2**20
    assert figures["memory"].tree_rss >= figures["memory"].peak_rss
    assert figures["disk"].peak_rss < 200 * 2**20
    assert figures["disk"].disk_peak > 30 * 2**20
    assert figures["disk"].disk_after < 2**20
    assert figures["disk"].seconds >= 4


def test_the_plan_scores_the_last_monday_and_loads_a_week_before():
    plan = PipelinePlan(customers=1_000, end=date(2026, 1, 1))

    assert plan.weekly_as_of == date(2025, 12, 29) and plan.weekly_as_of.weekday() == 0
    assert plan.first_load_as_of == date(2025, 12, 22)
    steps = plan.steps()
    assert [s.name for s in steps][:5] == [
        "simulate",
        "release",
        "forget released history",
        "ingest",
        "build",
    ]
    assert all("2025-12-29" in s.command for s in steps if s.name in {"train", "score", "drift"})
    assert PipelinePlan(customers=1_000, end=date(2026, 1, 5)).weekly_as_of == date(2025, 12, 29)
    with pytest.raises(ValueError, match="too short"):
        PipelinePlan(customers=1_000, start=date(2025, 12, 25), end=date(2026, 1, 1))
