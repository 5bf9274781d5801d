"""Parameters of the simulated company, in one place.

Everything a run depends on is either a field of `SimConfig` (given on the command line) or a
constant here, so that a run is reproducible from its seed and the code version alone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

PLANS = ("starter", "growth", "enterprise")
PLAN_SHARE = (0.5, 0.35, 0.15)
PRICE_PER_SEAT_MONTH = (15, 30, 60)  # dollars
ANNUAL_SHARE = (0.25, 0.5, 0.8)  # share of annual contracts per plan
ANNUAL_PRICE_FACTOR = 10  # an annual seat costs 10 months (two months free)
INDUSTRIES = (
    "software",
    "retail",
    "healthcare",
    "finance",
    "manufacturing",
    "education",
    "logistics",
    "media",
    "real_estate",
    "hospitality",
)
COUNTRIES = ("US", "GB", "DE", "FR", "NL", "CA", "AU", "SE", "ES", "IN", "BR", "JP")
COUNTRY_SHARE = (0.38, 0.12, 0.1, 0.07, 0.05, 0.06, 0.05, 0.03, 0.04, 0.04, 0.03, 0.03)
CS_MANAGERS = (
    "Alice Moreau",
    "Ben Okafor",
    "Chloe Tanaka",
    "Daniel Weiss",
    "Elena Rossi",
    "Farid Haddad",
    "Grace Lindqvist",
    "Hugo Martins",
    "Ines Novak",
    "Jonas Berg",
    "Kara Singh",
    "Liam Doyle",
)
EVENT_TYPES = ("login", "feature_use", "export", "integration_sync")
UNKNOWN_EVENT_TYPES = ("page_view", "session_ping", "LOGIN ")
FEATURES = (
    "dashboard",
    "reports",
    "alerts",
    "forecasting",
    "workflows",
    "api_keys",
    "audit_log",
    "sso",
    "templates",
    "comments",
    "search",
    "billing_portal",
)
EXPORT_FEATURES = ("csv_export", "pdf_export")
INTEGRATIONS = ("salesforce", "hubspot", "slack", "jira")
MALFORMED_TIMESTAMPS = ("not-a-date", "2025-13-45T25:61:00Z", "", "2024/03/04 09:12", "yesterday")
TICKET_PRIORITIES = ("low", "normal", "high", "urgent")
TICKET_TYPES = ("question", "incident", "problem", "task")
ZENDESK_BASE = "https://acme-support.zendesk.com/api/v2"
ZENDESK_TICKET_PAGE = 1000
ZENDESK_ORG_PAGE = 100
STRIPE_PAGE = 100
# from this many customers a release gzips its usage files and API pages, as exports usually
# are: gzip -6 makes them 6-12x smaller, so 1M customers' two years fit on an ordinary disk
GZIP_MIN_CUSTOMERS = 50_000
CS_MODES = ("self", "list")  # who picks the customers CS contacts: the team itself, or the list
CS_REACH_SHARE = 0.75  # contact attempts that reach the customer
CS_CONTACT_GAP_WEEKS = 8  # no new attempt within this many weeks of the last one
CS_CONTACT_WEEKS = 6  # a reached contact lowers the hazard of the next six weeks


@dataclass(frozen=True)
class HazardWeights:
    """Log-odds contributions of what the sources show to the weekly churn hazard."""

    intercept: float = -6.8
    login_decline: float = 2.2  # times -clip(logins change over 4 weeks, -1, 1)
    low_activity: float = 0.5  # times -log((events_4w + 1) / (expected_4w + 1)), clipped at 0
    inactive_14d: float = 1.0  # no login in the last 14 days
    low_seat_use: float = 3.0  # times max(0, 0.5 - seat utilisation)
    failed_payments: float = 0.7  # per failure in 90 days (max 3)
    recent_failure: float = 0.6  # a failure in the last 14 days
    open_tickets: float = 0.35  # per open ticket (max 3)
    old_open_ticket: float = 0.5  # oldest open ticket older than 14 days
    escalated: float = 0.4  # per escalated ticket in 90 days (max 2)
    bad_satisfaction: float = 0.8  # per bad rating in 90 days (max 2)
    plan: tuple[float, float, float] = (0.3, 0.0, -0.4)
    annual_near_renewal: float = 1.0  # annual contract, ramping up over the last 120 days
    annual_mid_term: float = -1.2  # annual contract more than 120 days before renewal
    new_customer: float = 0.6  # tenure < 120 days
    old_customer: float = -0.3  # tenure > 2 years
    downgrade: float = 0.5  # mrr down more than 5% in 90 days
    discount: float = -0.3
    january: float = 0.35
    fiscal_year_end: float = 0.2  # last two weeks of March, June, December
    cs_contact: float = -0.4  # for 6 weeks after a reached contact
    offer_accepted: float = -1.0  # for 13 weeks after an accepted offer
    offer_pending: float = -0.2  # for 6 weeks
    announced_leaving: float = 2.5  # for 3 weeks after a customer said it will leave
    noise_sd: float = 0.7  # per customer-week log-odds noise no data explains ...
    noise_persistence: float = 0.9  # ... an AR(1) over weeks: unspoken dissatisfaction lingers


@dataclass(frozen=True)
class SimConfig:
    """What one `generate` run depends on."""

    customers: int = 1000
    seed: int = 42
    start: date = date(2024, 1, 1)
    end: date = date(2025, 12, 31)
    dirt_rate: float = 0.01
    activity_scale: float = 1.0
    existing_share: float = 0.65
    cs_mode: str = "self"  # "self": CS picks who looks at risk; "list": CS works a given list
    cs_list_share: float = 0.8  # in "list" mode, share of listed customers CS tries to contact
    weights: HazardWeights = field(default_factory=HazardWeights)

    def __post_init__(self) -> None:
        if self.cs_mode not in CS_MODES:
            raise ValueError(f"cs_mode must be one of {CS_MODES}, not {self.cs_mode!r}")
        if not 0.0 <= self.cs_list_share <= 1.0:
            raise ValueError(f"cs_list_share must be in [0, 1], not {self.cs_list_share}")

    def to_json(self) -> str:
        """Serialise for `meta.json`."""
        d = asdict(self)
        d["start"], d["end"] = self.start.isoformat(), self.end.isoformat()
        return json.dumps(d, indent=2)

    @classmethod
    def load(cls, sim_dir: Path) -> SimConfig:
        """Read the config a simulation was generated with."""
        d = json.loads((Path(sim_dir) / "meta.json").read_text())
        d["start"], d["end"] = date.fromisoformat(d["start"]), date.fromisoformat(d["end"])
        w = d.pop("weights")
        w["plan"] = tuple(w["plan"])
        return cls(**d, weights=HazardWeights(**w))
