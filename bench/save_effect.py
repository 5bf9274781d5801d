"""`python -m bench --part save_effect`: does the control-group estimate find the true effect?

For each seed the simulator runs in "list" mode: at each Monday of the window the published
list is the customers newly entering the top `top_share` of the simulator's visible risk.
That risk stands in for the model's score, because running the whole pipeline (release,
ingest, dbt, training, scoring) once per seed and week is not feasible; the save-effect
estimate does not depend on where the list comes from, only on the random control group.
`models_ml.holdout.assign_control` draws the control group of each week's new episodes; the
treated ones are listed (CS contacts a share of them), the control ones never are. A customer
whose episode started less than 28 days before does not start another one, so each episode's
group holds over its whole horizon, as the truth's untreated outcome assumes.

After the horizon, `models_ml.monitoring.save_effect.estimate` gives the effect (control churn
rate minus treated churn rate) with its 95% interval; the truth is the mean of
churned_untreated - churned_treated over the same treated episodes
(`truth/list_episodes.parquet`, here taken from the simulation in memory). Over seeds, the
interval should cover the truth about 95% of the time, and the mean estimate should sit on the
mean truth.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy.stats import binom

from simulator.clock import DAY, monday_on_or_before, to_day
from simulator.config import SimConfig
from simulator.engine import Simulation
from simulator.listing import HORIZON_WEEKS
from simulator.plan import WeekView

HORIZON_DAYS = 7 * HORIZON_WEEKS


@dataclass(frozen=True)
class BenchSize:
    """What one seed simulates, and the experiment's settings."""

    customers: int = 20_000
    start: date = date(2024, 1, 1)
    end: date = date(2024, 6, 30)
    top_share: float = 0.05  # the "High" group: this share of active customers by risk
    control_share: float = 0.10
    cs_list_share: float = 0.8


class NewlyHighList:
    """The weekly list: customers newly in the top risk group, minus a random control group.

    Episodes start from the second Monday (the first only sets who was already in the group)
    and stop `HORIZON_DAYS` before the end, so every horizon is complete.
    """

    def __init__(self, size: BenchSize, seed: int) -> None:
        from models_ml.holdout import assign_control

        self.assign = assign_control
        self.size, self.key = size, f"save-effect-bench-{seed}"
        self.first = monday_on_or_before(size.start) + timedelta(days=7)
        self.last = size.end + timedelta(days=1 - HORIZON_DAYS)
        self.was_high: set[str] = set()
        self.last_start: dict[str, date] = {}
        self.rows: list[pd.DataFrame] = []

    def __call__(self, view: WeekView) -> list[str]:
        high = view.risk >= np.quantile(view.risk, 1 - self.size.top_share)
        ids = view.customer_ids[high].astype(str)
        newly = [i for i in ids if i not in self.was_high]
        self.was_high = set(ids)
        if not self.first <= view.as_of <= self.last:
            return []
        cut = view.as_of - timedelta(days=HORIZON_DAYS)
        new = [i for i in newly if self.last_start.get(i, cut) <= cut]
        if not new:
            return []
        for i in new:
            self.last_start[i] = view.as_of
        control = self.assign(new, [view.as_of] * len(new), self.size.control_share, self.key)
        mrr = pd.Series(view.mrr, index=view.customer_ids.astype(str))
        self.rows.append(
            pd.DataFrame(
                {
                    "customer_id": new,
                    "as_of": view.as_of,
                    "month": view.as_of.replace(day=1),
                    "holdout_group": np.where(control, "control", "treated"),
                    "mrr": mrr.reindex(new).to_numpy(),
                }
            )
        )
        return [i for i, c in zip(new, control, strict=True) if not c]


@dataclass(frozen=True)
class SeedResult:
    """One seed's estimate beside the truth."""

    seed: int
    treated_n: int
    control_n: int
    effect: float
    ci_low: float
    ci_high: float
    truth: float
    srm_p_value: float
    seconds: float

    @property
    def covered(self) -> bool:
        return self.ci_low <= self.truth <= self.ci_high


def run_seed(seed: int, size: BenchSize) -> SeedResult:
    """Simulate one company with the list-driven CS team and compare estimate and truth."""
    from models_ml.monitoring.save_effect import estimate

    t0 = time.perf_counter()
    cfg = SimConfig(
        customers=size.customers,
        seed=seed,
        start=size.start,
        end=size.end,
        cs_mode="list",
        cs_list_share=size.cs_list_share,
    )
    plan = NewlyHighList(size, seed)
    sim = Simulation(cfg, lambda events: None, plan)
    sim.run()
    episodes = pd.concat(plan.rows, ignore_index=True)
    churn = sim.st.churn_ts[sim.team.index_of(episodes.customer_id)]
    start = np.array([to_day(d) for d in episodes.as_of]) * DAY
    episodes["churned"] = (churn >= start) & (churn < start + HORIZON_DAYS * DAY)
    total = estimate(episodes, share=size.control_share)
    total = total[total.cumulative].iloc[0]

    truth = sim.team.episodes()
    treated = episodes[episodes.holdout_group == "treated"]
    both = treated.merge(truth, on=["customer_id", "as_of"], how="left", validate="1:1")
    if both.churned_untreated.isna().any():
        raise RuntimeError("a treated episode is missing from the truth")
    if not (both.churned.astype(bool) == both.churned_treated.astype(bool)).all():
        raise RuntimeError("the truth's treated outcome disagrees with the simulated history")
    saved = both.churned_untreated.astype(int) - both.churned_treated.astype(int)
    true_effect = float(saved.mean())
    return SeedResult(
        seed=seed,
        treated_n=int(total.treated_n),
        control_n=int(total.control_n),
        effect=float(total.effect),
        ci_low=float(total.ci_low),
        ci_high=float(total.ci_high),
        truth=true_effect,
        srm_p_value=float(total.srm_p_value),
        seconds=time.perf_counter() - t0,
    )


def summary(results: list[SeedResult]) -> list[tuple[str, str]]:
    """Coverage against its binomial range, and the bias of the mean estimate."""
    n = len(results)
    covered = sum(r.covered for r in results)
    low, high = binom.interval(0.95, n, 0.95)
    diff = np.array([r.effect - r.truth for r in results])
    se = float(diff.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    effects = np.array([r.effect for r in results])
    truths = np.array([r.truth for r in results])
    width = np.mean([r.ci_high - r.ci_low for r in results])
    return [
        ("seeds", str(n)),
        (
            "intervals covering the truth",
            f"{covered} of {n} ({covered / n:.0%}); a 95% interval covers {low:.0f} to "
            f"{high:.0f} of {n} with 95% probability (binomial)",
        ),
        ("mean estimate", f"{effects.mean():.4f}"),
        ("mean truth", f"{truths.mean():.4f}"),
        ("mean estimate - mean truth", f"{diff.mean():+.4f} (standard error {se:.4f})"),
        ("mean interval width", f"{width:.4f}"),
        ("episodes per seed (treated / control)", _episodes(results)),
        ("seconds per seed", f"{np.mean([r.seconds for r in results]):.1f}"),
    ]


def _episodes(results: list[SeedResult]) -> str:
    t = np.mean([r.treated_n for r in results])
    c = np.mean([r.control_n for r in results])
    return f"{t:,.0f} / {c:,.0f} on average"


def run(seeds: int, size: BenchSize, echo=print) -> list[SeedResult]:
    """Run `seeds` seeds (1..seeds), printing one table row per seed as it finishes."""
    echo(
        f"\n### save effect: {size.customers:,} customers, {size.start} to {size.end}, "
        f"control share {size.control_share:.0%}, CS tries {size.cs_list_share:.0%} of the list"
        "\n\nThe list is the customers newly entering the top "
        f"{size.top_share:.0%} of the simulator's visible risk, a stand-in for the model's "
        "score (running the pipeline per seed is not feasible). Effect = control churn rate "
        "minus treated churn rate within 28 days; truth = mean of the potential outcomes' "
        "difference over the same treated episodes.\n"
    )
    echo("| seed | treated | control | estimate | 95% interval | truth | covered | SRM p |")
    echo("|---|---|---|---|---|---|---|---|")
    results = []
    for seed in range(1, seeds + 1):
        r = run_seed(seed, size)
        results.append(r)
        echo(
            f"| {r.seed} | {r.treated_n:,} | {r.control_n:,} | {r.effect:.4f} | "
            f"[{r.ci_low:.4f}, {r.ci_high:.4f}] | {r.truth:.4f} | "
            f"{'yes' if r.covered else 'no'} | {r.srm_p_value:.2f} |"
        )
    echo("\n| measure | value |\n|---|---|")
    for key, value in summary(results):
        echo(f"| {key} | {value} |")
    return results
