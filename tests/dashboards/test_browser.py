"""The app in a real browser: `streamlit run dashboards/app.py` on a free local port, driven by
Debian's headless Chromium through Playwright. Filters the at-risk list to High, finds a known
customer, and saves a screenshot of every page under test-output/screenshots/ (the Save rate
page once it shows the randomized result)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from app_process import free_port, started, stop

from dashboards.snapshot import read_app_table

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO / "test-output" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 60_000
VIEWPORT = {"width": 1440, "height": 1000}


@pytest.fixture(scope="module")
def app_url(app_data, tmp_path_factory) -> Iterator[str]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed: apt-get install -y chromium")
    port = free_port()
    env = {
        **os.environ,
        "CHURN_DATA_DIR": str(app_data.settings.data_dir),
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    }
    env.pop("CHURN_APP_SNAPSHOT_PATH", None)
    log = (tmp_path_factory.mktemp("streamlit") / "streamlit.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "streamlit", "run", "dashboards/app.py",
            "--server.headless", "true",
            "--server.address", "127.0.0.1",
            "--server.port", str(port),
            "--server.fileWatcherType", "none",
            "--browser.gatherUsageStats", "false",
        ],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    started(url, proc, Path(log.name))
    yield url
    stop(proc)
    log.close()


@pytest.fixture(scope="module")
def browser_page(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(TIMEOUT_MS)
        yield page
        browser.close()


def _settle(page) -> None:
    """Wait until Streamlit has finished running the script and charts have drawn."""
    page.wait_for_load_state("networkidle")
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText"
        ".includes('Running')"
    )
    page.wait_for_timeout(1500)


def _shot(page, name: str) -> Path:
    """Screenshot the whole page: Streamlit scrolls inside its main container, so the
    viewport is stretched to the content's height first."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    height = page.evaluate(
        "() => { const main = document.querySelector('[data-testid=\"stMain\"]');"
        " return main ? main.scrollHeight : document.body.scrollHeight; }"
    )
    page.set_viewport_size({"width": VIEWPORT["width"], "height": min(max(height, 1000), 6000)})
    page.wait_for_timeout(1000)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(VIEWPORT)
    return path


def test_at_risk_page_filters_to_high_and_finds_a_known_customer(app_data, app_url, browser_page):
    page = browser_page
    customers = read_app_table("at_risk_customers", app_data.settings)
    high = customers[customers.risk_tier == "High"].sort_values("risk_rank")
    known = high.iloc[0]

    page.goto(app_url)
    page.get_by_text(f"{len(customers):,} of {len(customers):,} accounts").wait_for()
    _settle(page)
    _shot(page, "1_at_risk_customers")

    page.locator('[data-testid="stButtonGroup"] button', has_text="High").first.click()
    page.get_by_text(f"{len(high):,} of {len(customers):,} accounts").wait_for()
    search = page.get_by_label("Search by company name or customer id")
    search.fill(known.company_name)
    search.press("Enter")
    page.get_by_role("heading", name=f"{known.company_name} · {known.customer_id}").wait_for()
    matches = high[high.company_name.str.contains(known.company_name, regex=False)]
    page.get_by_text(f"{len(matches):,} of {len(customers):,} accounts").wait_for()
    _settle(page)
    _shot(page, "2_at_risk_high_known_customer")


@pytest.mark.parametrize(
    ("path", "title", "name", "shows"),
    [
        ("risk_trends", "Risk trends", "3_risk_trends", "Tier definition"),
        ("save_rate", "Save rate", "4_save_rate", "Listed customers churned"),
        ("model_health", "Model health", "5_model_health", "Champion"),
    ],
)
def test_every_page_renders(app_url, browser_page, path, title, name, shows):
    page = browser_page
    page.goto(f"{app_url}/{path}")
    page.get_by_role("heading", name=title).wait_for()
    page.get_by_text(shows).first.wait_for()
    page.locator('[data-testid="stVegaLiteChart"]').first.wait_for()
    _settle(page)
    assert not page.locator('[data-testid="stException"]').count()
    shot = _shot(page, name)
    assert shot.stat().st_size > 20_000
