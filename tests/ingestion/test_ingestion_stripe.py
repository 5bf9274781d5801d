"""Stripe events: newest-first API paging or oldest-first pages on disk; `id` dedups."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_api import Failure, FakeApiServer
from ingest_helpers import column_types, count, make_settings, query
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
