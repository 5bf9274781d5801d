"""`release`: write what the four source systems hold on day D (everything strictly before D).

A release is a pure function of the simulation and D, so consecutive releases are consistent
(a later one is a superset) and cheap: existing usage files and full pages are left alone.
Usage files and API pages are gzipped when asked, or by default from
`config.GZIP_MIN_CUSTOMERS` customers on (1M customers' two years: ~110 GB as plain JSON).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from simulator.clock import parse_day
from simulator.config import GZIP_MIN_CUSTOMERS, SimConfig
from simulator.storage import SimPaths
from simulator.writers import customer_db, stripe, usage, zendesk


def release(
    as_of: date | str,
    sim: Path | str = Path("data/sim"),
    out: Path | str = Path("data/sources"),
    customer_db_url: str | None = None,
    compress: bool | None = None,
) -> Path:
    """Write the sources as of `as_of` into `out` (customer DB at `customer_db_url`).

    The default customer DB is `sqlite:///<out>/customer_db.sqlite`. `compress` gzips usage
    files and API pages; None decides by the simulation's size. Returns `out`.
    """
    d = parse_day(as_of)
    paths, out = SimPaths(sim), Path(out)
    if not paths.meta.exists():
        raise FileNotFoundError(f"no simulation in {paths.root} (run `generate` first)")
    out.mkdir(parents=True, exist_ok=True)
    url = customer_db_url or f"sqlite:///{(out / 'customer_db.sqlite').resolve()}"
    if compress is None:
        compress = SimConfig.load(paths.root).customers >= GZIP_MIN_CUSTOMERS
    customer_db.write(paths, d, url)
    usage.write(paths, d, out / "usage", compress)
    zendesk.write(paths, d, out / "zendesk", compress)
    stripe.write(paths, d, out / "stripe" / "events", compress)
    return out
