"""The one exception type of models_ml: it says what is wrong and what to do about it."""

from __future__ import annotations


class ModelError(RuntimeError):
    """A training, promotion or scoring job cannot go on.

    Raised before anything is promoted or written, so a failed job leaves the registry and the
    last good predictions as they were. The message names the problem and the fix.
    """

    def __init__(self, problem: str, fix: str) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}. What to do: {fix}")
