"""Who may see what in the CS app: sign-in configuration, roles from the identity's claims,
and the loopback rule, as plain functions so each rule is tested without a browser.

Sign-in is Streamlit's OpenID Connect support, which reads its `[auth]` section only from
secrets.toml files: `auth_secrets_toml` renders that section from the settings, and the
launcher (dashboards/launch.py) writes it to a private file outside the repository.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum

from warehouse.settings import Settings

LOCAL_IDENTITY = "local"
OIDC_FIELDS = {
    "client_id": "CHURN_APP_OIDC_CLIENT_ID",
    "client_secret": "CHURN_APP_OIDC_CLIENT_SECRET",
    "server_metadata_url": "CHURN_APP_OIDC_SERVER_METADATA_URL",
}


class Role(IntEnum):
    """What a signed-in person may see; a higher role sees all a lower one does."""

    OWNER = 1
    MANAGER = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()


class SignInMisconfigured(ValueError):
    """The sign-in settings are incomplete or invalid; the message says what to set."""


@dataclass(frozen=True)
class Viewer:
    """The person using the app, and what their role lets them see.

    `identity` is what actions and audit events are signed with: the email, else the
    provider's subject id; `owner_name` is their name as `account_owner` holds it.
    """

    identity: str
    role: Role | None
    owner_name: str | None = None
    signed_in: bool = True
    owners_see_all: bool = False

    @property
    def sees_every_account(self) -> bool:
        """Managers and admins always; owners only when the settings allow it."""
        return self.role is not None and (self.role >= Role.MANAGER or self.owners_see_all)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


def pages_for(role: Role) -> list[str]:
    """The pages a role sees, by file stem: owners the list and trends, managers also the
    save rate, admins also model health."""
    pages = ["at_risk_customers", "risk_trends"]
    if role >= Role.MANAGER:
        pages.append("save_rate")
    if role >= Role.ADMIN:
        pages.append("model_health")
    return pages


def local_viewer() -> Viewer:
    """Local mode (no identity provider): today's app, everything visible, actions labelled."""
    return Viewer(identity=LOCAL_IDENTITY, role=Role.ADMIN, signed_in=False)


def _role(name: str, where: str) -> Role:
    try:
        return Role[name.strip().upper()]
    except KeyError:
        choices = ", ".join(r.label for r in Role)
        raise SignInMisconfigured(f"{where}: unknown role {name!r} (one of {choices})") from None


def check_role_mappings(settings: Settings) -> None:
    """Raise SignInMisconfigured when a role mapping names an unknown role."""
    for variable, mapping in (
        ("CHURN_APP_ROLE_BY_EMAIL", settings.app_role_by_email),
        ("CHURN_APP_ROLE_BY_GROUP", settings.app_role_by_group),
        ("CHURN_APP_ROLE_BY_DOMAIN", settings.app_role_by_domain),
    ):
        for role in mapping.values():
            _role(role, variable)


def _groups(claims: Mapping[str, object], claim: str) -> list[str]:
    value = claims.get(claim)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return []


def _email(claims: Mapping[str, object]) -> str | None:
    email = claims.get("email")
    return email.strip().lower() if isinstance(email, str) and "@" in email else None


def role_for(claims: Mapping[str, object], settings: Settings) -> Role | None:
    """The role the identity's claims earn (None: no role, no data).

    A mapping for the exact email decides alone (so one person can be given less than their
    group); otherwise the highest role among their groups and their email's domain.
    """
    email = _email(claims)
    by_email = {k.strip().lower(): v for k, v in settings.app_role_by_email.items()}
    if email is not None and email in by_email:
        return _role(by_email[email], "CHURN_APP_ROLE_BY_EMAIL")
    found = [
        _role(settings.app_role_by_group[group], "CHURN_APP_ROLE_BY_GROUP")
        for group in _groups(claims, settings.app_groups_claim)
        if group in settings.app_role_by_group
    ]
    if email is not None and claims.get("email_verified", True) is not False:
        domain = email.rsplit("@", 1)[1]
        by_domain = {k.strip().lower(): v for k, v in settings.app_role_by_domain.items()}
        if domain in by_domain:
            found.append(_role(by_domain[domain], "CHURN_APP_ROLE_BY_DOMAIN"))
    return max(found) if found else None


def identity_of(claims: Mapping[str, object]) -> str:
    """What an action is signed with: the email, else the provider's subject id."""
    return _email(claims) or str(claims.get("sub") or "unknown")


def owner_name_for(claims: Mapping[str, object], settings: Settings) -> str | None:
    """Their name as the CRM's `account_owner` holds it: the settings' mapping by email,
    else the provider's `name` claim."""
    email = _email(claims)
    by_email = {k.strip().lower(): v for k, v in settings.app_owner_name_by_email.items()}
    if email is not None and email in by_email:
        return by_email[email]
    name = claims.get("name")
    return name.strip() if isinstance(name, str) and name.strip() else None


def viewer_for(claims: Mapping[str, object], settings: Settings) -> Viewer:
    """The signed-in viewer described by the identity token's claims."""
    return Viewer(
        identity=identity_of(claims),
        role=role_for(claims, settings),
        owner_name=owner_name_for(claims, settings),
        owners_see_all=settings.app_owners_see_all,
    )


def signed_in_at(claims: Mapping[str, object]) -> datetime | None:
    """When the provider issued the identity token (its `iat` claim), in UTC."""
    issued = claims.get("iat")
    if isinstance(issued, int | float) and not isinstance(issued, bool):
        return datetime.fromtimestamp(issued, UTC)
    return None


def session_expired(claims: Mapping[str, object], now: datetime, max_hours: float) -> bool:
    """True when the sign-in is older than `max_hours` (or carries no issue time)."""
    issued = signed_in_at(claims)
    return issued is None or now - issued > timedelta(hours=max_hours)


def is_loopback(address: str | None) -> bool:
    """True for addresses only this machine reaches (127.0.0.0/8, ::1, localhost)."""
    if not address:
        return False  # Streamlit's default: every interface
    host = address.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def sign_in_from_settings(settings: Settings) -> bool:
    """True when the settings configure an identity provider (incomplete ones raise)."""
    given = {field: getattr(settings, f"app_oidc_{field}") is not None for field in OIDC_FIELDS}
    if not any(given.values()):
        return False
    missing = [OIDC_FIELDS[field] for field, present in given.items() if not present]
    if missing:
        raise SignInMisconfigured(f"sign-in is half configured: set {', '.join(missing)}")
    return True


def redirect_uri(settings: Settings, port: int) -> str:
    """Where the provider sends the browser back: the setting, else this port on localhost."""
    uri = settings.app_oidc_redirect_uri or f"http://localhost:{port}/oauth2callback"
    if not uri.rstrip("/").endswith("/oauth2callback"):
        raise SignInMisconfigured("CHURN_APP_OIDC_REDIRECT_URI must end with /oauth2callback")
    return uri.rstrip("/")


def auth_secrets_toml(settings: Settings, port: int) -> str:
    """Streamlit's `[auth]` section for the settings' provider (TOML text)."""
    assert settings.app_oidc_client_secret is not None
    cookie = settings.app_cookie_secret
    values = {
        "redirect_uri": redirect_uri(settings, port),
        "cookie_secret": cookie.get_secret_value() if cookie else secrets.token_urlsafe(32),
        "client_id": settings.app_oidc_client_id,
        "client_secret": settings.app_oidc_client_secret.get_secret_value(),
        "server_metadata_url": settings.app_oidc_server_metadata_url,
    }
    # JSON strings are valid TOML basic strings (quotes, backslashes and controls escaped)
    lines = ["[auth]", *(f"{key} = {json.dumps(value)}" for key, value in values.items())]
    lines += ["", "[auth.client_kwargs]", f"scope = {json.dumps(settings.app_oidc_scope)}"]
    return "\n".join(lines) + "\n"
