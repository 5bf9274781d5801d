"""A page link or redirect to another host is never followed: the source's credentials stay
with the configured host, the run fails naming the source and the foreign host, and nothing
already loaded (or still to load) is lost: the next good run loads it."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_api import Failure, FakeApi, FakeApiServer
from ingest_helpers import count, make_settings
from ingest_sources import organization, stripe_event, ticket

from ingestion import IngestionError, run
from ingestion.destination import pipeline

TOKEN = "tok-s3cret-123"
STRIPE_KEY = "sk_test_s3cret_456"
TICKETS = [ticket(n, f"2025-03-0{n}T10:00:00Z") for n in range(1, 4)]
ORGS = [organization(900 + n, f"C000000{n}", "2025-01-01T00:00:00Z") for n in range(1, 6)]


@pytest.fixture
def foreign():
    """Another API on another port: the host an answer tries to send us to."""
    with FakeApiServer(FakeApi(organizations=list(ORGS))) as server:
        yield server


def _no_credentials(message: str) -> None:
    for secret in (TOKEN, STRIPE_KEY, "ops@example.com"):
        assert secret not in message


def test_a_next_page_on_another_host_is_refused_and_nothing_is_lost(
    tmp_path: Path, fake_api: FakeApiServer, foreign: FakeApiServer
) -> None:
    fake_api.api.zendesk_auth = ("ops@example.com", TOKEN)
    settings = make_settings(
        tmp_path / "data",
        zendesk_base_url=fake_api.url,
        zendesk_email="ops@example.com",
        zendesk_api_token=TOKEN,
    )
    fake_api.api.tickets = TICKETS[:2]
    fake_api.api.organizations = ORGS[:1]
    run(["zendesk"], settings)  # an earlier good run
    assert count(settings, "raw.zendesk_tickets") == 2

    fake_api.api.tickets = list(TICKETS)
    fake_api.api.organizations = list(ORGS)
    fake_api.api.next_page_base = foreign.url
    with pytest.raises(IngestionError) as err:
        run(["zendesk"], settings)
    message = str(err.value)
    foreign_host = foreign.url.removeprefix("http://")
    assert message.startswith("zendesk: next_page of /api/v2/organizations.json page 1")
    assert f"another host, {foreign_host}," in message
    assert "raw.zendesk_organizations" in message and "the next run re-extracts it" in message
    _no_credentials(message)
    assert foreign.api.requests == []  # nothing, credentials least of all, went there

    # what earlier runs loaded is still there, nothing is pending, the cursor did not move
    assert count(settings, "raw.zendesk_tickets") == 2
    assert not pipeline(settings, "zendesk").has_pending_data
    fake_api.api.next_page_base = None
    run(["zendesk"], settings)
    assert count(settings, "raw.zendesk_tickets") == 3
    assert count(settings, "raw.zendesk_organizations") == 5


def test_a_redirect_to_another_host_is_refused(
    tmp_path: Path, fake_api: FakeApiServer, foreign: FakeApiServer
) -> None:
    fake_api.api.stripe_key = STRIPE_KEY
    settings = make_settings(
        tmp_path / "data", stripe_base_url=fake_api.url, stripe_api_key=STRIPE_KEY
    )
    fake_api.api.events = [stripe_event(f"evt_{n}", 1_740_000_000 + n * 60) for n in range(4)]
    foreign.api.events = [stripe_event("evt_planted", 1_740_000_000)]
    location = f"{foreign.url}/v1/events?limit=100"
    fake_api.api.failures = [Failure("/v1/events", 302, 1, {"Location": location})]
    with pytest.raises(IngestionError) as err:
        run(["stripe"], settings)
    message = str(err.value)
    assert message.startswith("stripe: a redirect from ")
    assert f"another host, {foreign.url.removeprefix('http://')}," in message
    _no_credentials(message)
    assert foreign.api.requests == []
    assert not pipeline(settings, "stripe").has_pending_data

    run(["stripe"], settings)  # the API behaves again: every event lands
    assert count(settings, "raw.stripe_events") == 4
