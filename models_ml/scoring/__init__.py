"""Scoring: the weekly batch job and the pieces it is made of.

- `job`: `score(as_of)`, the batch job; picks Python or in-warehouse scoring by the target.
- `local`: `score_frame`, pure scoring in Python with tiers, ranks and drivers (the API and
  the benchmarks use it too).
- `bigquery`: scoring inside BigQuery ML (the SQL around ML.PREDICT, and running it).
- `drivers_sql`: the model's inputs and a linear champion's drivers as GoogleSQL.
- `columns`: the columns of `ml.churn_predictions`, declared once.
"""

from models_ml.scoring.job import ScoreResult, score
from models_ml.scoring.local import assign_tiers, read_features, score_frame

__all__ = ["ScoreResult", "assign_tiers", "read_features", "score", "score_frame"]
