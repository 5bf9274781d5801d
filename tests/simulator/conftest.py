"""A small simulation shared by the simulator tests (1,000 customers, five months)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sim_helpers import D1, D2, DIRT, END, START

from simulator import generate, release


@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Private history of a small simulation."""
    out = tmp_path_factory.mktemp("sim")
    return generate(customers=1000, seed=11, start=START, end=END, out=out, dirt_rate=DIRT)


@pytest.fixture(scope="session")
def releases(sim_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Fresh releases as of D1 and D2, and one folder released at D1 then D2."""
    root = tmp_path_factory.mktemp("sources")
    out = {"d1": root / "d1", "d2": root / "d2", "inc": root / "inc"}
    release(D1, sim_dir, out["d1"])
    release(D2, sim_dir, out["d2"])
    release(D1, sim_dir, out["inc"])
    release(D2, sim_dir, out["inc"])
    return out
