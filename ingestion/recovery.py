"""Keep a failed load from wedging its source, and say exactly what failed.

dlt keeps a load package that failed to load, and its next `run` loads only that package and
ignores new data; a package the warehouse refuses is refused again on every run. dlt 1.31's
`abort_packages` deletes pending packages and rewinds the local pipeline state (our cursors
and file ledgers with it) to before them, and the warehouse state only counts completed
loads, so the next run re-extracts whatever was not loaded. Rows a partly loaded package
did write are skipped by the insert-only keys when they come again.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dlt

from ingestion.errors import IngestionError

log = logging.getLogger(__name__)

RE_EXTRACT = "the next run re-extracts it"


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and what it wraps (dlt's step, job and client exceptions, causes)."""
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in found):
        found.append(current)
        inner = getattr(current, "exception", None) or getattr(current, "client_exception", None)
        if not isinstance(inner, BaseException):
            inner = current.__cause__ or current.__context__
        current = inner
    return found


def root_cause(exc: BaseException) -> str:
    """The innermost error of a dlt failure as `Type: first line`."""
    for inner in reversed(_chain(exc)):
        lines = [line.strip() for line in str(inner).splitlines() if line.strip()]
        if lines:
            return f"{type(inner).__name__}: {lines[0]}"
    return type(exc).__name__


def ours(exc: BaseException) -> IngestionError | None:
    """Our own error if dlt wrapped one (dlt re-raises resource errors as its own)."""
    return next((e for e in _chain(exc) if isinstance(e, IngestionError)), None)


def failed_tables(exc: BaseException, default: list[str]) -> list[str]:
    """The raw table a dlt failure is about: a load job's table or an extracted resource."""
    for inner in _chain(exc):
        job_id = getattr(inner, "job_id", None)
        if isinstance(job_id, str) and job_id:
            return [job_id.split(".", 1)[0]]
        pipe = getattr(inner, "pipe_name", None)
        if isinstance(pipe, str) and pipe:
            return [pipe]
    return default


def pending(pipeline: dlt.Pipeline) -> str:
    """The pending load packages and their tables, for a log line."""
    parts = []
    ids = [*pipeline.list_extracted_load_packages(), *pipeline.list_normalized_load_packages()]
    for load_id in ids:
        try:
            info = pipeline.get_load_package_info(load_id)
            tables = sorted(
                {
                    job.job_file_info.table_name
                    for jobs in info.jobs.values()
                    for job in jobs
                    if not job.job_file_info.table_name.startswith("_dlt")
                }
            )
        except Exception:  # only for the message: never hide the real problem
            tables = []
        parts.append(f"load package {load_id} ({', '.join(tables) or 'state only'})")
    return "; ".join(parts) or "no load package"


def drop_pending(pipeline: dlt.Pipeline) -> str | None:
    """Abort every pending package and rewind the local state; the error text if that failed."""
    try:
        pipeline.abort_packages()
    except Exception as exc:
        return root_cause(exc)
    return None


def finish_pending(source: str, pipeline: dlt.Pipeline) -> None:
    """Load what an interrupted run left pending, once; drop it with a warning if it fails.

    Without this, dlt's `run` would load the leftover package and silently skip this run's
    extraction, or fail on it forever.
    """
    if not pipeline.has_pending_data:
        return
    what = pending(pipeline)
    log.info("%s: loading %s left by an interrupted run", source, what)
    try:
        pipeline.run()
    except Exception as exc:
        problem = drop_pending(pipeline)
        outcome = (
            f"could not drop it either ({problem}); dlt retries it next run"
            if problem
            else "dropped it; this run re-extracts its data"
        )
        log.warning(
            "%s: %s left by an interrupted run could not be loaded (%s); %s",
            source,
            what,
            root_cause(exc),
            outcome,
        )


def load_failure(
    source: str, pipeline: dlt.Pipeline | None, exc: BaseException, tables: list[str]
) -> IngestionError:
    """Drop what the failed run left pending and describe the failure for the person on call.

    The message names the source and the raw table, keeps our own message when the failure
    was ours (it names the page or file and the record), and says what happens next.
    """
    problem = drop_pending(pipeline) if pipeline is not None else None
    names = ", ".join(f"raw.{t}" for t in failed_tables(exc, tables)) or "raw"
    if problem:
        after = f"its pending data could not be dropped ({problem}); the next run retries it"
    else:
        after = f"nothing of this run is pending; {RE_EXTRACT}"
    own = ours(exc)
    if own is not None:
        detail = str(own).split(": ", 1)[1] if str(own).startswith(f"{own.source}: ") else str(own)
        return IngestionError(own.source, f"{detail} ({names}; {after})")
    step = getattr(exc, "step", None)
    where = f" at dlt's {step} step" if isinstance(step, str) else ""
    return IngestionError(source, f"loading {names} failed{where}: {root_cause(exc)} ({after})")


def run_pipeline(source: str, pipeline: dlt.Pipeline, data: Any, tables: list[str]) -> None:
    """Finish leftovers, then extract and load `data`; any failure leaves nothing pending."""
    try:
        finish_pending(source, pipeline)
        with paused_cycle_collection():
            pipeline.run(data)
    except Exception as exc:
        raise load_failure(source, pipeline, exc, tables) from exc


@contextmanager
def paused_cycle_collection() -> Iterator[None]:
    """Python's cycle collector off for one extract-load, on again (as it was) after it.

    API pages are parsed into thousands of dicts a page (they hold no cycles), and the
    collections they set off walked them again and again while they waited in a batch:
    extracting 20k customers' Stripe events took 9.5-11 CPU seconds with it, 6.6-7.0
    without. The cycles a run leaves are collected when it is on again.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
