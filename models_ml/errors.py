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


class VersionError(ModelError, ValueError):
    """A model version given by a person is not one that can be used: not a version number,
    not registered, or not eligible (already champion). Raised before anything is changed; a
    ValueError too, so the CLI answers it as a usage error (exit 2)."""


class PromotionError(ModelError):
    """An alias move (promotion, rollback, registration as challenger) did not happen.

    Every step already applied was undone, so the registry and the promotions history are as
    they were; the message says what failed and how to retry. When the undo itself could not
    finish, the message says so, readers keep resolving the previous version, and the next
    move finishes the undo first.
    """
