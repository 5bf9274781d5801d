"""The app's door: decides, before any page reads data, who is looking and what they may see.

With an identity provider configured (an `[auth]` section in the secrets Streamlit was given),
a visitor must sign in and hold a role; otherwise the app is in local mode and must serve on
loopback only, unless CHURN_APP_ALLOW_NO_SIGN_IN says otherwise. Each refusal is a page that
says why, never a traceback; sign-ins and refusals are written to the audit log.
"""

from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from dashboards.audit_log import AuditEvent, record_event
from dashboards.cs_actions_store import now
from dashboards.data import md, settings
from dashboards.sign_in import (
    SignInMisconfigured,
    Viewer,
    check_role_mappings,
    is_loopback,
    local_viewer,
    session_expired,
    signed_in_at,
    viewer_for,
)

VIEWER_KEY = "signed_in_viewer"
AUDITED_KEY = "audited_sign_in"


def sign_in_configured() -> bool:
    """True when Streamlit was given an `[auth]` section (by the launcher or the user)."""
    try:
        return "auth" in st.secrets
    except StreamlitSecretNotFoundError:
        return False


def _stop_with(title: str, message: str, icon: str) -> None:
    st.title(title)
    st.info(message, icon=icon)


def _audit_once(event_type: str, viewer: Viewer, key: str, detail: str | None = None) -> None:
    """One audit row per sign-in (the token's issue time is the key), not one per rerun."""
    marker = (event_type, viewer.identity, key)
    if st.session_state.get(AUDITED_KEY) == marker:
        return
    record_event(
        AuditEvent(
            event_type=event_type,
            identity=viewer.identity,
            key=key,
            event_at=now(),
            role=viewer.role.label if viewer.role else None,
            detail=detail,
        ),
        settings(),
    )
    st.session_state[AUDITED_KEY] = marker


def _local_mode() -> Viewer:
    address = st.get_option("server.address")
    if not is_loopback(address) and not settings().app_allow_no_sign_in:
        _stop_with(
            "Sign-in required",
            f"This app is serving on {md(address or 'every interface')} without sign-in, so it "
            "shows no data. Configure an identity provider (CHURN_APP_OIDC_* settings), or start "
            "it on 127.0.0.1 with `churn app`.",
            ":material/lock:",
        )
        st.stop()
    st.sidebar.info("Local mode: no sign-in", icon=":material/computer:")
    return local_viewer()


def _sign_in_page() -> None:
    _stop_with(
        "Churn risk",
        "Sign in with your company account to see the accounts your role allows.",
        ":material/login:",
    )
    st.button("Sign in", type="primary", on_click=st.login)
    st.stop()


def _signed_in_sidebar(viewer: Viewer) -> None:
    role = viewer.role.label if viewer.role else "no role"
    st.sidebar.markdown(f"Signed in as **{md(viewer.identity)}** ({role})")
    st.sidebar.button("Sign out", on_click=st.logout, key="sign_out")


def current_viewer() -> Viewer:
    """The viewer of this run, or a page saying why there is nothing to see (then stops)."""
    config = settings()
    try:
        check_role_mappings(config)
    except SignInMisconfigured as exc:
        _stop_with("Sign-in misconfigured", md(str(exc)), ":material/error:")
        st.stop()
    if not sign_in_configured():
        viewer = _local_mode()
        st.session_state[VIEWER_KEY] = viewer
        return viewer
    if not st.user.is_logged_in:
        _sign_in_page()
    claims = st.user.to_dict()
    viewer = viewer_for(claims, config)
    if session_expired(claims, now(), config.app_session_max_hours):
        _stop_with(
            "Your sign-in has expired",
            f"Sign-ins last {config.app_session_max_hours:g} hours: sign in again to go on.",
            ":material/schedule:",
        )
        st.button("Sign in again", type="primary", on_click=st.login)
        st.stop()
    issued = signed_in_at(claims)
    key = issued.isoformat() if issued else "unknown"
    _signed_in_sidebar(viewer)
    if viewer.role is None:
        _audit_once("access_refused", viewer, key, detail="no role")
        _stop_with(
            "No access",
            f"You are signed in as {md(viewer.identity)}, but no role gives you access to "
            "customer data. Ask an admin of the app to give you a role (manager, owner or "
            "admin).",
            ":material/block:",
        )
        st.stop()
    _audit_once("sign_in", viewer, key)
    st.session_state[VIEWER_KEY] = viewer
    return viewer


def viewer() -> Viewer:
    """The viewer app.py let in; a page run on its own (tests) goes through the door itself."""
    found = st.session_state.get(VIEWER_KEY)
    return found if isinstance(found, Viewer) else current_viewer()
