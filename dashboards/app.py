"""The CS manager's risk app: `streamlit run dashboards/app.py`.

Reads only the published marts snapshot (dashboards/snapshot.py), so it stays usable while a
pipeline run writes the warehouse; CS actions logged here go to the app's own store.
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

PAGES = Path(__file__).resolve().parent / "pages"
navigation = st.navigation(
    [
        st.Page(
            PAGES / "at_risk_customers.py",
            title="At-risk customers",
            icon=":material/priority_high:",
            default=True,
        ),
        st.Page(PAGES / "risk_trends.py", title="Risk trends", icon=":material/trending_up:"),
        st.Page(PAGES / "save_rate.py", title="Save rate", icon=":material/support:"),
        st.Page(PAGES / "model_health.py", title="Model health", icon=":material/monitor_heart:"),
    ]
)
navigation.run()
