"""The CS manager's risk app: `streamlit run dashboards/app.py`.

Reads only the published marts snapshot (dashboards/snapshot.py), so it stays usable while a
pipeline run writes the warehouse; CS actions logged here go to the app's own store. Who may
see which page and which accounts is decided first (dashboards/access.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# `streamlit run` puts dashboards/ on sys.path, not the repository root
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

st.set_page_config(page_title="Churn risk", page_icon=":material/trending_down:", layout="wide")

from dashboards.access import current_viewer  # noqa: E402 - after the path fix
from dashboards.sign_in import pages_for  # noqa: E402

# who is looking decides which pages exist at all: a page not listed cannot be opened by URL
viewer = current_viewer()
assert viewer.role is not None  # current_viewer stops the script for a viewer without a role

PAGES = Path(__file__).resolve().parent / "pages"
ALL_PAGES = {
    "at_risk_customers": st.Page(
        PAGES / "at_risk_customers.py",
        title="At-risk customers",
        icon=":material/priority_high:",
        default=True,
    ),
    "risk_trends": st.Page(
        PAGES / "risk_trends.py", title="Risk trends", icon=":material/trending_up:"
    ),
    "save_rate": st.Page(PAGES / "save_rate.py", title="Save rate", icon=":material/support:"),
    "model_health": st.Page(
        PAGES / "model_health.py", title="Model health", icon=":material/monitor_heart:"
    ),
}
navigation = st.navigation([ALL_PAGES[name] for name in pages_for(viewer.role)])
navigation.run()
