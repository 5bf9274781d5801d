"""The demo talks like a product: one line per step with its time; dbt's node log and the
libraries' messages go to named files; failures still reach the terminal in full."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import pytest

from flows.console import StepPrinter, _FlowRunLines, quiet_terminal
from flows.dbt_runner import DbtRunError, dbt_output, run_dbt
from tests.dbt.dbt_helpers import FIXTURE_VARS, add_orphan_cs_action
from tests.dbt.raw_fixture import write_raw_fixture
from warehouse.settings import Settings

TIMED = re.compile(r"^  (?P<label>.+?) \.+ +(?P<seconds>\d+\.\d) s$")


def _lines(out: io.StringIO) -> list[str]:
    return out.getvalue().splitlines()


def test_one_aligned_line_per_step_and_failures_marked() -> None:
    out = io.StringIO()
    printer = StepPrinter(out, live=False)
    with printer.step("simulate 1,000 customers"):
        pass
    with printer.step("dbt build", prefix="week 0  2025-12-22  "):
        printer.nodes(1, 3)
        printer.nodes(3, 3)
    with pytest.raises(ValueError), printer.step("train", prefix="week 0  2025-12-22  "):
        raise ValueError("boom")

    lines = _lines(out)
    assert len(lines) == 3, lines
    first, second = (TIMED.match(line) for line in lines[:2])
    assert first and first["label"] == "simulate 1,000 customers"
    assert second and second["label"] == "week 0  2025-12-22  dbt build  3/3 nodes"
    assert len(lines[0]) == len(lines[1]), "times are aligned"
    assert lines[2].startswith("  week 0  2025-12-22  train ..") and "failed after" in lines[2]


def test_flow_tasks_become_step_lines() -> None:
    """Prefect's run records (which go to the log file) give one line per task of the flow."""
    out = io.StringIO()
    printer = StepPrinter(out, live=False)
    lines_from = _FlowRunLines(printer)
    records = [
        ("prefect.flow_runs", logging.INFO, "Beginning flow run 'x' for flow 'weekly'", {}),
        ("prefect.flow_runs", logging.INFO, "Beginning subflow run 'y' for flow 'ingest'", {}),
        (
            "prefect.task_runs",
            logging.INFO,
            "Finished in state Completed()",
            {"task_name": "ingest"},
        ),
        (
            "prefect.task_runs",
            logging.ERROR,
            "Finished in state Failed('x')",
            {"task_name": "train"},
        ),
    ]
    with printer.step("weekly flow", prefix="week 1  2025-12-29  "):
        for name, level, msg, extra in records:
            lines_from.handle(
                logging.makeLogRecord(dict(name=name, levelno=level, msg=msg, **extra))
            )

    lines = _lines(out)
    assert [line.split(" ..")[0].strip() for line in lines] == [
        "week 1  2025-12-29  start Prefect",
        "week 1  2025-12-29  ingest",
        "week 1  2025-12-29  train",
    ]
    assert "failed after" in lines[2] and "failed" not in lines[1]


def test_live_line_is_redrawn_in_place() -> None:
    out = io.StringIO()
    printer = StepPrinter(out, live=True)
    with printer.step("dbt build"):
        for done in range(1, 4):
            printer.nodes(done, 3)
            printer._drawn = 0.0  # let every update redraw

    text = out.getvalue()
    assert text.count("\n") == 1, "one finished line, the progress was drawn in place"
    assert "\r" in text and "2/3 nodes" in text
    assert TIMED.match(text.rsplit("\r", 1)[-1].replace("\x1b[K", "").rstrip("\n"))


def test_quiet_terminal_keeps_only_errors_on_screen(tmp_path: Path, capfd) -> None:
    log_file = tmp_path / "logs" / "demo.log"
    with quiet_terminal(log_file):
        print("a library's print")
        logging.getLogger("churn.test").info("an info line")
        try:
            raise RuntimeError("the cause")
        except RuntimeError:
            logging.getLogger("churn.test").exception("something broke")

    captured = capfd.readouterr()
    text = log_file.read_text()
    assert "a library's print" in text and "an info line" in text and "something broke" in text
    assert "Traceback" in text and "RuntimeError: the cause" in text
    terminal = captured.out + captured.err
    assert "a library's print" not in terminal and "an info line" not in terminal
    assert captured.err == "  error: churn.test: something broke\n", "one line, no traceback"


def test_quiet_dbt_logs_to_file_and_reports_failures_in_full(tmp_path: Path, capfd) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    write_raw_fixture(warehouse)
    settings = Settings(data_dir=tmp_path, warehouse_path=warehouse)
    logs = tmp_path / "logs"
    target = ["--target-path", str(tmp_path / "target")]
    seen: list[tuple[int, int]] = []

    with dbt_output(logs, lambda done, total: seen.append((done, total))):
        summary = run_dbt(
            ["build", "--select", "staging", "--indirect-selection", "cautious", *target],
            settings,
            dbt_vars=FIXTURE_VARS,
        )

    captured = capfd.readouterr()
    assert "Running with dbt" not in captured.out + captured.err, "dbt stays off the terminal"
    log_text = (logs / "dbt.log").read_text()
    assert "Running with dbt" in log_text and "stg_crm__customers" in log_text
    assert "\x1b[" not in log_text, "no colour codes in the file"
    done, total = seen[-1]
    # the on-run-start and on-run-end hooks are no nodes
    nodes = sum(n for (kind, _status), n in summary.counts.items() if kind != "operation")
    assert done == total == nodes
    assert [d for d, _ in seen] == list(range(1, done + 1))

    add_orphan_cs_action(warehouse)
    with pytest.raises(DbtRunError) as failed:
        run_dbt(
            ["build", "--select", "stg_cs__actions", *target],
            settings,
            dbt_vars=FIXTURE_VARS,
            log_dir=logs,
        )
    message = str(failed.value)
    assert "relationships_stg_cs__actions_customer_id" in message, "the failed node is named"
    assert "TEST FAILURE" in message and "C9999999" in message, "with the sample key"
    assert str((logs / "dbt.log").resolve()) in message
    assert "C9999999" not in capfd.readouterr().out
