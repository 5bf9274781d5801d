"""Writing GoogleSQL safely: checked identifiers, string and number literals.

Names and values are spliced into the scoring SQL, so every one goes through here.
"""

from __future__ import annotations

import re

import numpy as np

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class BigQueryMLError(RuntimeError):
    """In-warehouse scoring could not be set up or run; the message says what to check."""


def ident(name: str) -> str:
    """A column name, checked and back-quoted (names are spliced into SQL)."""
    if not _NAME.match(name):
        raise BigQueryMLError(f"invalid column name {name!r}")
    return f"`{name}`"


def literal(value: str) -> str:
    """A GoogleSQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def table_ref(project: str | None, name: str) -> str:
    """`project.dataset.table` quoted for GoogleSQL (the client's project when None)."""
    return f"`{project}.{name}`" if project else f"`{name}`"


def number(value: float) -> str:
    """A FLOAT64 literal that round-trips exactly (an exponent keeps DuckDB off DECIMAL)."""
    text = repr(float(value))
    if not np.isfinite(value):
        return f"CAST('{text}' AS FLOAT64)"
    return text if "e" in text else f"{text}e0"
