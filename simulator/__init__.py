"""A simulated B2B SaaS company that plays the four source systems of the churn pipeline.

Why: the pipeline needs realistic, dirty, incremental source data with a *known* churn process,
so that every layer can be tested end to end and a model's quality can be compared with the
best possible prediction (`simulator.truth.oracle_probability`). `generate` simulates a whole
period once; `release` writes what the sources hold on a given day (contracts.md §1).
"""

from simulator.generate import generate
from simulator.release import release

__all__ = ["generate", "release"]
