"""The champion, loaded once and followed: a background thread resolves the alias every few
seconds and, when it moved, loads the new version and swaps one immutable reference.

A request reads `holder.served` once and uses that object to the end, so a swap never
changes the model under a request in flight. A store that cannot be reached keeps the last
loaded version serving (and says so in /health); an alias that was removed stops serving
(503), because removing the champion is a deliberate act. `problem` never holds a
credential: the tracking URI in an MLflow error is masked before it is kept or logged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from models_ml.errors import ModelError
from models_ml.registry import LoadedModel, alias_version, connect, load_version
from serving.errors import ModelUnavailable
from warehouse.redaction import redact

log = logging.getLogger("serving")

# MLflow's tracking and registry URIs are process-global and `load_version` reads them:
# resolve and load under one lock so two holders (tests, reloads) never cross stores.
_MLFLOW = threading.Lock()


@dataclass(frozen=True)
class Served:
    """One loaded version and since when it answers."""

    loaded: LoadedModel
    alias: str
    loaded_since: datetime


class ModelHolder:
    """Holds the served version of `model_name@alias` and follows the alias."""

    def __init__(
        self,
        tracking_uri: str,
        model_name: str,
        alias: str,
        warm: Callable[[Served], None] | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self.alias = alias
        self.warm = warm
        self.checked_at: datetime | None = None
        self.problem: str | None = "the model was not loaded yet"
        self._served: Served | None = None
        self._refreshing = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def served(self) -> Served | None:
        """The current version (None when there is none); read it once per request."""
        return self._served

    def require(self) -> Served:
        """The current version, or a 503 saying why there is none."""
        served = self._served
        if served is None and self.checked_at is None:
            self.refresh()
            served = self._served
        if served is None:
            raise ModelUnavailable(f"no model to score with: {self.problem}")
        return served

    def refresh(self) -> bool:
        """Resolve the alias once; load and swap when it moved. True when it swapped."""
        with self._refreshing:
            try:
                return self._refresh()
            except Exception as exc:  # the store is down: keep serving what we have
                self.problem = redact(f"cannot check {self.model_name}@{self.alias}: {exc}")
                log.warning(self.problem)
                return False
            finally:
                self.checked_at = datetime.now(UTC)

    def _refresh(self) -> bool:
        with _MLFLOW:
            client = connect(self.tracking_uri)
            mv = alias_version(client, self.model_name, self.alias)
            if mv is None:
                self._served = None
                self.problem = (
                    f"registered model {self.model_name!r} has no {self.alias!r} version: "
                    "train one with `churn train --as-of YYYY-MM-DD` or `churn promote`"
                )
                return False
            current = self._served
            if current is not None and current.loaded.version == str(mv.version):
                self.problem = None
                return False
            try:
                loaded = load_version(client, self.model_name, str(mv.version))
            except ModelError as exc:
                self.problem = redact(exc)
                log.error("keeping version %s: %s", current and current.loaded.version, exc)
                return False
        served = Served(loaded, self.alias, datetime.now(UTC))
        if self.warm is not None and current is not None:
            self._warm(served)  # the first version warms after start; later ones before swap
        self._served = served  # one reference assignment: atomic for readers
        self.problem = None
        log.info("serving %s version %s", loaded.name, loaded.version)
        return True

    def _warm(self, served: Served) -> None:
        try:
            self.warm(served)  # type: ignore[misc]
        except Exception as exc:  # a cold cache is slower, not wrong
            log.warning("could not warm version %s: %s", served.loaded.version, redact(exc))

    def start(self, poll_seconds: float) -> None:
        """Load now, warm in the background, then follow the alias every `poll_seconds`."""
        self.refresh()
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, args=(poll_seconds,), name="champion-poll", daemon=True
        )
        self._thread.start()

    def _loop(self, poll_seconds: float) -> None:
        served = self._served
        if served is not None and self.warm is not None:
            self._warm(served)
        while poll_seconds > 0 and not self._stop.wait(poll_seconds):
            self.refresh()

    def stop(self) -> None:
        """Stop following the alias (the served version stays)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
