"""Sign-in end to end: a local OpenID Connect provider (oidc-provider-mock) started here, the app
started by its launcher with the provider in the settings, and Debian's headless Chromium
signing in as a manager, an account owner and a user with no role.

The manager sees every account and the save rate, the owner only their own accounts and no
save rate, the user with no role the no-access page; the owner's action is signed with their
email in the app's store and, after ingestion, in the warehouse, and every sign-in is audited.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from app_process import free_port, started, stop
from test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    TIMEOUT_MS,
    VIEWPORT,
    _settle,
    _shot,
)

from dashboards.snapshot import read_app_table

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
LIST_COUNT = re.compile(r"[\d,]+ of [\d,]+ accounts")
MANAGER = "manager@example.com"
OWNER = "owner@example.com"
NOBODY = "nobody@example.com"
ROLE_BY_GROUP = '{"cs-managers": "manager", "cs-owners": "owner"}'


def _busiest_owner(settings) -> tuple[str, int]:
    customers = read_app_table("at_risk_customers", settings)
    counts = customers["account_owner"].value_counts()
    return str(counts.index[0]), int(counts.iloc[0])


@pytest.fixture(scope="module")
def signed_app(app_data, tmp_path_factory) -> Iterator[dict]:
    """The provider (in this process) and the app (a launcher subprocess) on free ports."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed: apt-get install -y chromium")
    from oidc_provider_mock import User, run_server_in_thread

    owner_name, owner_accounts = _busiest_owner(app_data.settings)
    users = [
        User(sub="manager", claims={"email": MANAGER, "name": "Mia Manager",
                                    "groups": ["cs-managers"]}),
        User(sub="owner", claims={"email": OWNER, "name": owner_name, "groups": ["cs-owners"]}),
        User(sub="nobody", claims={"email": NOBODY, "name": "No Body", "groups": []}),
    ]  # fmt: skip
    work = tmp_path_factory.mktemp("sign_in")
    store_url = f"sqlite:///{work / 'app_store.sqlite'}"
    with run_server_in_thread(user_claims=users) as provider:
        port = free_port()
        env = {
            **os.environ,
            "CHURN_DATA_DIR": str(app_data.settings.data_dir),
            "CHURN_APP_ACTIONS_DB_URL": store_url,
            "CHURN_APP_OIDC_CLIENT_ID": "churn-app",
            "CHURN_APP_OIDC_CLIENT_SECRET": "test-secret",
            "CHURN_APP_OIDC_SERVER_METADATA_URL": (
                f"http://localhost:{provider.server_port}/.well-known/openid-configuration"
            ),
            "CHURN_APP_ROLE_BY_GROUP": ROLE_BY_GROUP,
        }
        env.pop("CHURN_APP_SNAPSHOT_PATH", None)
        log = (work / "streamlit.log").open("w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "dashboards.launch", "--address", "127.0.0.1",
             "--port", str(port), "--server.fileWatcherType", "none"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://localhost:{port}"
        started(url, proc, Path(log.name))
        try:
            yield {
                "url": url,
                "store_url": store_url,
                "work": work,
                "owner_name": owner_name,
                "owner_accounts": owner_accounts,
                "secrets": app_data.settings.data_dir / "app" / "secrets" / f"auth-{port}.toml",
            }
        finally:
            stop(proc)
            log.close()


@pytest.fixture(scope="module")
def browser(signed_app):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


def _sign_in(browser, url: str, sub: str):
    """A fresh browser context signed in as the provider's predefined user `sub`."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name=sub, exact=True).click()  # the provider's authorize page
    page.wait_for_url(f"{url}/**")
    return context, page


def test_the_generated_secrets_file_is_private(signed_app):
    secrets = signed_app["secrets"]
    assert secrets.stat().st_mode & 0o777 == 0o600
    assert secrets.parent.stat().st_mode & 0o777 == 0o700
    assert 'client_secret = "test-secret"' in secrets.read_text()


def test_a_visitor_must_sign_in_before_seeing_data(signed_app, browser):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(signed_app["url"])
    page.get_by_role("button", name="Sign in").wait_for()
    _settle(page)
    _shot(page, "sign_in_1_sign_in_page")
    assert page.get_by_text(LIST_COUNT).count() == 0
    assert not page.locator('[data-testid="stDataFrame"]').count()
    context.close()


def test_a_manager_sees_every_account_then_signs_out(app_data, signed_app, browser):
    customers = read_app_table("at_risk_customers", app_data.settings)
    url = signed_app["url"]
    context, page = _sign_in(browser, url, "manager")
    page.get_by_text(f"{len(customers):,} of {len(customers):,} accounts").wait_for()
    page.get_by_text(f"Signed in as {MANAGER} (manager)").wait_for()
    nav = page.locator('[data-testid="stSidebarNav"]')
    nav.get_by_text("Save rate").wait_for()
    assert nav.get_by_text("Model health").count() == 0  # admins only

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="End session").click()  # the provider's end-session page
    page.get_by_role("button", name="Sign in").wait_for()
    assert page.get_by_text(LIST_COUNT).count() == 0
    context.close()


def test_an_owner_sees_their_own_accounts_and_their_action_is_signed(app_data, signed_app, browser):
    from dashboards.cs_actions_store import list_actions
    from warehouse.settings import Settings

    url = signed_app["url"]
    mine = signed_app["owner_accounts"]
    context, page = _sign_in(browser, url, "owner")
    page.get_by_text(f"{mine:,} of {mine:,} accounts").wait_for()
    page.get_by_text(f"Signed in as {OWNER} (owner)").wait_for()
    nav = page.locator('[data-testid="stSidebarNav"]')
    nav.get_by_text("Risk trends").wait_for()
    assert nav.get_by_text("Save rate").count() == 0
    _settle(page)
    # no free "Performed by": the signed-in identity, read-only
    performed_by = page.get_by_role("textbox", name="Performed by")
    assert performed_by.input_value() == OWNER and performed_by.is_disabled()

    page.get_by_role("button", name="Save action").click()
    page.get_by_text("Saved contacted").wait_for()
    _settle(page)
    _shot(page, "sign_in_2_owner_list")
    context.close()

    store = Settings(data_dir=signed_app["work"], app_actions_db_url=signed_app["store_url"])
    actions = list_actions(store)
    assert list(actions["performed_by"]) == [OWNER]
    customers = read_app_table("at_risk_customers", app_data.settings)
    owned = set(customers.loc[customers.account_owner == signed_app["owner_name"], "customer_id"])
    assert set(actions["customer_id"]) <= owned

    # ingestion lands the signed action and the audit trail in the warehouse
    import ingestion

    warehouse = signed_app["work"] / "warehouse.duckdb"
    ingestion.run(
        sources=["app_actions"], settings=store.model_copy(update={"warehouse_path": warehouse})
    )
    with duckdb.connect(str(warehouse), read_only=True) as con:
        landed = con.sql("select performed_by, action_id from raw.app_cs_actions").fetchall()
        audit = con.sql(
            "select event_type, identity, action_id from raw.app_audit_events"
        ).fetchall()
    assert landed == [(OWNER, actions["action_id"].iloc[0])]
    assert ("action_logged", OWNER, actions["action_id"].iloc[0]) in audit
    assert ("sign_in", OWNER, None) in audit


def test_a_user_without_a_role_gets_the_no_access_page(signed_app, browser):
    from dashboards.audit_log import list_events
    from warehouse.settings import Settings

    context, page = _sign_in(browser, signed_app["url"], "nobody")
    page.get_by_role("heading", name="No access").wait_for()
    page.get_by_text(f"You are signed in as {NOBODY}").wait_for()
    _settle(page)
    _shot(page, "sign_in_3_no_access")
    assert not page.locator('[data-testid="stDataFrame"]').count()
    assert not page.locator('[data-testid="stException"]').count()
    context.close()

    store = Settings(data_dir=signed_app["work"], app_actions_db_url=signed_app["store_url"])
    events = list_events(store)
    refused = events[events.event_type == "access_refused"]
    assert list(refused["identity"]) == [NOBODY]
    assert NOBODY not in set(events.loc[events.event_type == "sign_in", "identity"])
