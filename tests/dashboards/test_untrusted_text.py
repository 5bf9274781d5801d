"""Text from the sources is shown as text: a company (or owner) named like Markdown is shown
literally, and no link or image comes out of it, on the customer view and after saving an
action. The elements' Markdown is rendered with a CommonMark renderer, as the browser would."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.slow

PAGE = Path(__file__).resolve().parents[2] / "dashboards" / "pages" / "at_risk_customers.py"
EVIL_NAME = "[click](http://evil.example/a) ![x](http://evil.example/x.png) :red[Acme] *Co*"
EVIL_OWNER = "<img src=http://evil.example/o.png> **Boss** [mail](mailto:x@evil.example)"
RENDER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


@pytest.fixture
def evil_app(app_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The published snapshot with every company and owner renamed like an attacker would."""
    snapshot = tmp_path / "renamed.duckdb"  # not marts.duckdb: its catalog would shadow the schema
    shutil.copy(app_env.settings.app_snapshot_file, snapshot)
    with duckdb.connect(str(snapshot)) as con:
        con.execute(
            "update marts.at_risk_customers set company_name = ?, account_owner = ?",
            [EVIL_NAME, EVIL_OWNER],
        )
    monkeypatch.setenv("CHURN_APP_SNAPSHOT_PATH", str(snapshot))
    monkeypatch.setenv("CHURN_APP_ACTIONS_DB_URL", f"sqlite:///{tmp_path / 'actions.sqlite'}")
    return app_env


def _rendered(at: AppTest) -> str:
    """HTML of every Markdown-rendering element on the page."""
    bodies = [e.value for e in at.subheader] + [e.value for e in at.markdown]
    bodies += [e.value for e in at.caption] + [e.value for e in at.success]
    bodies += [e.value for e in at.error] + [e.value for e in at.info]
    return "\n".join(RENDER.render(str(b)) for b in bodies)


def _no_injection(html: str) -> None:
    assert "<a " not in html and "<img" not in html, html[:2000]
    assert "<em>" not in html and "<strong>Boss" not in html


def test_a_markdown_company_name_is_shown_literally(evil_app):
    at = AppTest.from_file(str(PAGE), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    heading = RENDER.renderInline(at.subheader[0].value)
    assert heading.startswith(EVIL_NAME.replace("<", "&lt;").replace(">", "&gt;"))
    html = _rendered(at)
    assert "&lt;img src=http://evil.example/o.png&gt; **Boss**" in html  # the owner, literally
    _no_injection(html)

    at.text_area(key="action_note").input("called")
    next(b for b in at.button if b.label == "Save action").click().run()
    assert not at.exception, [e.value for e in at.exception]
    saved = RENDER.renderInline(at.success[0].value)
    assert f"for {EVIL_NAME} (" in saved
    _no_injection(_rendered(at))
