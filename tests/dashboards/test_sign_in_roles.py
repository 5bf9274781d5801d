"""Who sees what, without a browser: roles from claims and settings, the owner's name, the age
of a sign-in, the loopback rule, Streamlit's [auth] secrets, the audit log, the app's door
under AppTest, and ingestion of the audit table."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from dashboards.audit_log import AuditEvent, list_events, record_event
from dashboards.cs_actions_store import CsAction, record_action
from dashboards.sign_in import (
    Role,
    SignInMisconfigured,
    auth_secrets_toml,
    check_role_mappings,
    identity_of,
    is_loopback,
    owner_name_for,
    pages_for,
    role_for,
    session_expired,
    sign_in_from_settings,
    viewer_for,
)
from warehouse.settings import Settings

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"


def _settings(**values) -> Settings:
    return Settings(
        app_role_by_group={"cs-managers": "manager", "cs-admins": "admin", "cs": "owner"},
        app_role_by_domain={"example.com": "owner"},
        **values,
    )


# ---------- roles


def test_the_highest_role_among_groups_and_domain_wins():
    settings = _settings()
    assert role_for({"email": "a@example.com"}, settings) == Role.OWNER
    assert role_for({"email": "a@example.com", "groups": ["cs-managers"]}, settings) == (
        Role.MANAGER
    )
    assert role_for({"email": "a@other.org", "groups": ["cs", "cs-admins"]}, settings) == (
        Role.ADMIN
    )
    assert role_for({"email": "a@other.org", "groups": "cs-managers"}, settings) == Role.MANAGER


def test_no_matching_claim_means_no_role():
    settings = _settings()
    assert role_for({"email": "a@other.org", "groups": ["sales"]}, settings) is None
    assert role_for({"sub": "12345"}, settings) is None
    # an unverified email does not earn its domain's role
    assert role_for({"email": "a@example.com", "email_verified": False}, settings) is None


def test_an_email_mapping_decides_alone_even_below_the_groups_role():
    settings = _settings(app_role_by_email={"Boss@Example.com": "owner"})
    claims = {"email": "boss@example.com", "groups": ["cs-admins"]}
    assert role_for(claims, settings) == Role.OWNER


def test_an_unknown_role_name_is_a_clear_configuration_error():
    with pytest.raises(SignInMisconfigured, match="CHURN_APP_ROLE_BY_GROUP: unknown role 'boss'"):
        check_role_mappings(Settings(app_role_by_group={"x": "boss"}))


def test_identity_and_owner_name_come_from_the_claims_or_the_mapping():
    settings = Settings(app_owner_name_by_email={"hm@example.com": "Hugo Martins"})
    assert identity_of({"email": "HM@example.com", "sub": "1"}) == "hm@example.com"
    assert identity_of({"sub": "abc"}) == "abc"
    assert owner_name_for({"email": "hm@example.com", "name": "H. M."}, settings) == (
        "Hugo Martins"
    )
    assert owner_name_for({"email": "x@example.com", "name": " Ana Lima "}, settings) == (
        "Ana Lima"
    )


def test_only_managers_admins_and_allowed_owners_see_every_account():
    settings = _settings()
    owner = viewer_for({"email": "o@example.com"}, settings)
    manager = viewer_for({"email": "m@x.org", "groups": ["cs-managers"]}, settings)
    assert not owner.sees_every_account and manager.sees_every_account
    allowed = viewer_for({"email": "o@example.com"}, _settings(app_owners_see_all=True))
    assert allowed.sees_every_account and not allowed.is_admin
    assert pages_for(Role.OWNER) == ["at_risk_customers", "risk_trends"]
    assert pages_for(Role.ADMIN)[-1] == "model_health"


def test_a_sign_in_older_than_the_limit_has_expired():
    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    recent = {"iat": int((now - timedelta(hours=1)).timestamp())}
    old = {"iat": int((now - timedelta(hours=13)).timestamp())}
    assert not session_expired(recent, now, 12)
    assert session_expired(old, now, 12)
    assert session_expired({}, now, 12)  # no issue time: sign in again


@pytest.mark.parametrize(
    ("address", "loopback"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("0.0.0.0", False), ("", False), (None, False),
     ("10.1.2.3", False), ("example.com", False)],
)  # fmt: skip
def test_loopback_addresses(address, loopback):
    assert is_loopback(address) is loopback


# ---------- Streamlit's [auth] secrets


def test_no_provider_settings_is_local_mode_and_half_of_them_is_an_error():
    assert not sign_in_from_settings(Settings())
    with pytest.raises(SignInMisconfigured, match="CHURN_APP_OIDC_CLIENT_SECRET"):
        sign_in_from_settings(Settings(app_oidc_client_id="x"))


def test_the_auth_section_is_valid_toml_with_the_settings_values():
    settings = Settings(
        app_oidc_client_id="churn-app",
        app_oidc_client_secret='se"cr\\et',
        app_oidc_server_metadata_url="https://idp.example.com/.well-known/openid-configuration",
        app_cookie_secret="cookie",
    )
    auth = tomllib.loads(auth_secrets_toml(settings, 8600))["auth"]
    assert auth["client_secret"] == 'se"cr\\et'
    assert auth["redirect_uri"] == "http://localhost:8600/oauth2callback"
    assert auth["cookie_secret"] == "cookie"
    assert auth["client_kwargs"]["scope"] == "openid email profile"
    # without a cookie secret each start gets a random one
    random = Settings(**{**settings.model_dump(), "app_cookie_secret": None})
    first = tomllib.loads(auth_secrets_toml(random, 1))["auth"]["cookie_secret"]
    assert (
        len(first) >= 32
        and first != tomllib.loads(auth_secrets_toml(random, 1))["auth"]["cookie_secret"]
    )
    bad = Settings(**{**settings.model_dump(), "app_oidc_redirect_uri": "https://app/x"})
    with pytest.raises(SignInMisconfigured, match="/oauth2callback"):
        auth_secrets_toml(bad, 1)


# ---------- audit log


def test_an_audit_event_is_written_once_per_key(tmp_path):
    settings = Settings(data_dir=tmp_path)
    moment = datetime(2026, 3, 2, 9, tzinfo=UTC)
    event = AuditEvent("sign_in", "a@example.com", "2026-03-02T08:00:00", moment, role="owner")
    assert record_event(event, settings)
    assert not record_event(event, settings)  # a reload of the same sign-in
    again = AuditEvent("sign_in", "a@example.com", "2026-03-02T10:00:00", moment, role="owner")
    assert record_event(again, settings)
    events = list_events(settings)
    assert list(events["event_type"]) == ["sign_in", "sign_in"]
    assert events["event_at"].iloc[0] == datetime(2026, 3, 2, 9)  # naive UTC
    with pytest.raises(ValueError, match="unknown audit event type"):
        record_event(AuditEvent("deleted", "a", "k", moment), settings)


def test_ingestion_lands_the_audit_table_and_skips_it_in_an_older_store(tmp_path):
    import ingestion

    settings = Settings(data_dir=tmp_path)
    moment = datetime(2025, 12, 1, 9)
    # an older store: actions only (record_action alone creates no audit table)
    action_id = record_action(CsAction("C0000001", "contacted", "Dana", action_at=moment), settings)
    import sqlalchemy as sa

    eng = sa.create_engine(settings.app_actions_db)
    with eng.begin() as con:
        con.execute(sa.text("drop table if exists audit_events"))
    eng.dispose()
    ingestion.run(sources=["app_actions"], settings=settings)

    record_event(
        AuditEvent("action_logged", "dana@example.com", action_id, moment, action_id=action_id),
        settings,
    )
    ingestion.run(sources=["app_actions"], settings=settings)
    with duckdb.connect(str(settings.warehouse_file), read_only=True) as con:
        landed = con.sql("select identity, action_id from raw.app_audit_events").fetchall()
        actions = con.execute("select count(*) from raw.app_cs_actions").fetchone()
    assert landed == [("dana@example.com", action_id)]
    assert actions == (1,)


# ---------- the door, under AppTest (no provider: local mode)


def _app(monkeypatch, tmp_path, address: str, **env: str) -> AppTest:
    monkeypatch.setenv("CHURN_DATA_DIR", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    at = AppTest.from_file(str(DASHBOARDS / "app.py"), default_timeout=60)
    from streamlit import config

    previous = config.get_option("server.address")
    config.set_option("server.address", address)
    try:
        return at.run()
    finally:
        config.set_option("server.address", previous)


def test_the_app_started_around_the_launcher_on_a_network_address_shows_no_data(
    monkeypatch, tmp_path
):
    at = _app(monkeypatch, tmp_path, "0.0.0.0")
    assert not at.exception
    assert at.title[0].value == "Sign-in required"
    assert "serving on 0\\.0\\.0\\.0 without sign-in" in at.info[0].value
    assert not at.dataframe


def test_local_mode_says_so_and_opens_the_list(monkeypatch, tmp_path):
    at = _app(monkeypatch, tmp_path, "127.0.0.1")
    assert not at.exception
    assert any("Local mode: no sign-in" in i.value for i in at.sidebar.info)
    allowed = _app(monkeypatch, tmp_path, "0.0.0.0", CHURN_APP_ALLOW_NO_SIGN_IN="true")
    assert not allowed.exception
    assert allowed.title[0].value == "At-risk customers"
