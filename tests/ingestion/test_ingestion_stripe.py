"""Stripe events: newest-first API paging or oldest-first pages on disk; `id` dedups."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fake_api import Failure, FakeApiServer
from ingest_helpers import (
    LockOnRequest,
    LockWhenRead,
    column_types,
    count,
    make_settings,
    query,
    variant_columns,
)
from ingest_sources import stripe_event, write_stripe_pages

from ingestion import IngestionError, run
from warehouse.settings import Settings

EVENTS = [stripe_event(f"evt_{n}", 1_740_000_000 + n * 60) for n in range(1, 6)]


def _api_settings(tmp_path: Path, server: FakeApiServer) -> Settings:
    server.api.stripe_key = "sk_test_123"
    return make_settings(
        tmp_path / "data", stripe_base_url=server.url, stripe_api_key="sk_test_123"
    )


def test_api_pages_newest_first_and_resumes_from_created(
    tmp_path: Path, fake_api: FakeApiServer
) -> None:
    settings = _api_settings(tmp_path, fake_api)
    fake_api.api.events = list(EVENTS)
    first = run(["stripe"], settings)
    assert first.rows == {"stripe_events": 5}
    calls = [q for p, q in fake_api.api.requests if p == "/v1/events"]
    assert calls[0] == {"limit": ["100"]}
    assert [q.get("starting_after") for q in calls] == [None, ["evt_4"], ["evt_2"]]

    types = column_types(settings, "raw.stripe_events")
    assert {k: types[k] for k in ("id", "type", "created", "data")} == {
        "id": "VARCHAR",
        "type": "VARCHAR",
        "created": "BIGINT",
        "data": "JSON",
    }
    data = query(settings, "select data from raw.stripe_events where id = 'evt_3'")[0][0]
    assert json.loads(data) == EVENTS[2]["data"]

    # later: two new events, one of them at the same second as the newest loaded one
    fake_api.api.requests.clear()
    fake_api.api.events += [
        stripe_event("evt_6", EVENTS[-1]["created"]),
        stripe_event("evt_7", EVENTS[-1]["created"] + 60, "invoice.payment_failed"),
    ]
    run(["stripe"], settings)
    calls = [q for p, q in fake_api.api.requests if p == "/v1/events"]
    assert calls[0]["created[gte]"] == [str(EVENTS[-1]["created"])]
    assert count(settings, "raw.stripe_events") == 7
    assert count(settings, "raw.stripe_events where id = 'evt_5'") == 1


def test_disk_pages_and_duplicate_event_merge(settings: Settings) -> None:
    write_stripe_pages(settings.stripe_pages_path, EVENTS)
    run(["stripe"], settings)
    run(["stripe"], settings)
    assert count(settings, "raw.stripe_events") == 5

    # the next release appends pages, re-delivering evt_5 and evt_2 (an older duplicate)
    later = [*EVENTS, EVENTS[4], EVENTS[1], stripe_event("evt_8", EVENTS[-1]["created"] + 5)]
    write_stripe_pages(settings.stripe_pages_path, later)
    run(["stripe"], settings)
    assert count(settings, "raw.stripe_events") == 6
    ids = query(
        settings, "select id, count(*) from raw.stripe_events group by id having count(*) > 1"
    )
    assert ids == []


def test_bearer_key_is_sent(tmp_path: Path, fake_api: FakeApiServer) -> None:
    settings = _api_settings(tmp_path, fake_api).model_copy(update={"stripe_api_key": None})
    with pytest.raises(IngestionError, match=r"^stripe: GET .*/v1/events returned HTTP 401"):
        run(["stripe"], settings)


def test_5xx_then_success_is_retried(tmp_path: Path, fake_api: FakeApiServer) -> None:
    settings = _api_settings(tmp_path, fake_api)
    fake_api.api.events = list(EVENTS)
    fake_api.api.failures = [Failure("/v1/events", 503, 2)]
    run(["stripe"], settings)
    assert count(settings, "raw.stripe_events") == 5


def test_missing_pages_directory_names_the_source(settings: Settings) -> None:
    with pytest.raises(IngestionError, match=r"^stripe: no directory .*stripe.events"):
        run(["stripe"], settings)


# ---------- cursors a future date cannot poison


def test_future_created_lands_and_later_events_still_load(settings: Settings) -> None:
    future = stripe_event("evt_future", 99_999_999_999)
    write_stripe_pages(settings.stripe_pages_path, [*EVENTS, future])
    run(["stripe"], settings)
    assert count(settings, "raw.stripe_events") == 6
    assert count(settings, "raw.stripe_events where created = 99999999999") == 1

    later = [stripe_event("evt_late1", 1_767_000_000), stripe_event("evt_late2", 1_767_000_060)]
    write_stripe_pages(settings.stripe_pages_path, [*EVENTS, future, *later])
    run(["stripe"], settings)
    assert count(settings, "raw.stripe_events") == 8
    assert count(settings, "raw.stripe_events where id like 'evt_late%'") == 2


def test_api_created_gte_never_jumps_to_a_future_event(
    tmp_path: Path, fake_api: FakeApiServer
) -> None:
    settings = _api_settings(tmp_path, fake_api)
    fake_api.api.events = [*EVENTS, stripe_event("evt_future", 99_999_999_999)]
    run(["stripe"], settings)
    assert count(settings, "raw.stripe_events") == 6

    fake_api.api.requests.clear()
    fake_api.api.events.append(stripe_event("evt_late", 1_767_000_000))
    run(["stripe"], settings)
    calls = [q for p, q in fake_api.api.requests if p == "/v1/events"]
    assert calls[0]["created[gte]"] == [str(EVENTS[-1]["created"])]
    assert count(settings, "raw.stripe_events") == 7


# ---------- events that cannot land go to quarantine


def test_created_yesterday_is_quarantined_and_the_rest_loads(settings: Settings) -> None:
    bad = {**stripe_event("evt_bad", 0), "created": "yesterday"}
    pages = settings.stripe_pages_path / "events"
    pages.mkdir(parents=True)
    page = {"object": "list", "data": [EVENTS[0], bad, EVENTS[1], 42], "has_more": False}
    (pages / "page-00001.json").write_text(json.dumps(page))
    summary = run(["stripe"], settings)
    assert summary.rows == {"stripe_events": 2, "stripe_quarantine": 2}
    rows = query(
        settings,
        "select resource, page, position, reason, record from raw.stripe_quarantine order by 3",
    )
    assert rows == [
        (
            "stripe_events",
            "events/page-00001.json",
            1,
            "created 'yesterday' is not an integer",
            json.dumps(bad, separators=(",", ":")),
        ),
        ("stripe_events", "events/page-00001.json", 3, "record is not a JSON object", "42"),
    ]
    assert variant_columns(settings) == []

    run(["stripe"], settings)  # the bad page is still there
    (pages / "page-00002.json").write_text(
        json.dumps({"object": "list", "data": [EVENTS[2]], "has_more": False})
    )
    run(["stripe"], settings)
    assert count(settings, "raw.stripe_events") == 3
    assert count(settings, "raw.stripe_quarantine") == 2
    (pages / "page-00001.json").unlink()
    (pages / "page-00003.json").write_text(
        json.dumps({"object": "list", "data": [EVENTS[3], {"id": 7}], "has_more": False})
    )
    run(["stripe"], settings)
    assert count(settings, "raw.stripe_events") == 4
    assert query(settings, "select reason from raw.stripe_quarantine where position = 1") == [
        ("created 'yesterday' is not an integer",),
        ("id 7 is not a string",),
    ]
    assert variant_columns(settings) == []


def test_api_created_yesterday_is_quarantined(tmp_path: Path, fake_api: FakeApiServer) -> None:
    settings = _api_settings(tmp_path, fake_api)
    fake_api.api.events = [*EVENTS, {**stripe_event("evt_bad", 0), "created": "yesterday"}]
    run(["stripe"], settings)
    assert count(settings, "raw.stripe_events") == 5
    assert query(settings, "select page, position, reason from raw.stripe_quarantine") == [
        ("/v1/events page 3", 1, "created 'yesterday' is not an integer")
    ]
    fake_api.api.events.append(stripe_event("evt_6", EVENTS[-1]["created"] + 60))
    run(["stripe"], settings)
    assert count(settings, "raw.stripe_events") == 6
    assert count(settings, "raw.stripe_quarantine") == 1
    assert variant_columns(settings) == []


# ---------- a failed load does not wedge the source


def test_failed_load_is_re_extracted_next_run(settings: Settings) -> None:
    write_stripe_pages(settings.stripe_pages_path, EVENTS[:2])
    run(["stripe"], settings)
    write_stripe_pages(settings.stripe_pages_path, EVENTS)
    page = settings.stripe_pages_path / "events" / "page-00002.json"
    trap = LockWhenRead(page, page.read_bytes(), settings.warehouse_file)
    try:
        with pytest.raises(IngestionError) as err:
            run(["stripe"], settings)
    finally:
        trap.restore()
    message = str(err.value)
    assert message.startswith("stripe: loading raw.stripe_events failed at dlt's load step")
    assert message.endswith("the next run re-extracts it)")
    run(["stripe"], settings)
    assert count(settings, "raw.stripe_events") == 5


def test_api_failed_load_is_re_extracted_next_run(tmp_path: Path, fake_api: FakeApiServer) -> None:
    settings = _api_settings(tmp_path, fake_api)
    fake_api.api.events = list(EVENTS[:2])
    run(["stripe"], settings)
    fake_api.api.events = list(EVENTS)
    fake_api.api.on_request = hook = LockOnRequest(settings.warehouse_file)
    try:
        with pytest.raises(IngestionError, match=r"^stripe: loading raw\.stripe_events"):
            run(["stripe"], settings)
    finally:
        fake_api.api.on_request = None
        hook.release()
    fake_api.api.requests.clear()
    run(["stripe"], settings)
    calls = [q for p, q in fake_api.api.requests if p == "/v1/events"]
    assert calls[0]["created[gte]"] == [str(EVENTS[1]["created"])]
    assert count(settings, "raw.stripe_events") == 5


def test_disk_pages_read_by_a_run_are_not_read_again_until_they_change(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    root = settings.stripe_pages_path
    write_stripe_pages(root, EVENTS[:4])  # pages 1 and 2
    assert run(["stripe"], settings).rows == {"stripe_events": 4}
    # the merge's staging copy is emptied once the load is in (no second copy on disk)
    assert count(settings, "raw_staging.stripe_events") == 0

    # page 1 now holds bytes that are not JSON, with its size and mtime kept: not read again
    page_1 = root / "events" / "page-00001.json"
    stat = page_1.stat()
    page_1.write_bytes(b"x" * stat.st_size)
    os.utime(page_1, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    page_3 = {"object": "list", "url": "/v1/events", "has_more": False, "data": EVENTS[4:]}
    (root / "events" / "page-00003.json").write_text(json.dumps(page_3))
    second = run(["stripe"], settings)
    assert second.rows.get("stripe_events") == 1
    assert count(settings, "raw.stripe_events") == 5
    tables = "select table_name from information_schema.tables where table_schema = 'raw'"
    assert "stripe_quarantine" not in {name for (name,) in query(settings, tables)}

    # changed (a new mtime): read again, and its bytes go to quarantine as a page
    os.utime(page_1, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    run(["stripe"], settings)
    reasons = query(settings, "select page, reason from raw.stripe_quarantine")
    assert [(page, reason.split(":")[0]) for page, reason in reasons] == [
        ("events/page-00001.json", "page is not valid JSON")
    ]
    # an unreadable page is read again next run (still in quarantine once: same bytes)
    run(["stripe"], settings)
    assert count(settings, "raw.stripe_quarantine") == 1
    assert count(settings, "raw.stripe_events") == 5
