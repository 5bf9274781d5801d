"""Whether a JSON record can land in its raw table as it is, and if not, why.

A record whose key or cursor cannot be read would make dlt put the value in a variant column
(`id__v_text`) and leave the NOT NULL key empty, which fails the load, every run. Such a
record goes to quarantine instead (ingestion/quarantine.py); these checks give the reason.

`Rule`s check the key and cursor fields strictly (an id must be a JSON integer, not "123").
`ColumnGuard` then catches any other value dlt could only store in a variant column: it
knows each column's type (declared hints, then what dlt inferred in earlier loads or from
the first value in this one) and asks dlt's own coercion whether the value fits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import dlt
from dlt.common.data_types.type_helpers import coerce_value, py_type_to_sc_type

Rule = Callable[[dict[str, Any]], str | None]
Check = Callable[[Any], str | None]

BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
# Python types that already are the column's type: no coercion, no variant
_EXACT: dict[str, tuple[type, ...]] = {
    "bigint": (int,),
    "text": (str,),
    "json": (dict, list),
    "double": (float,),
    "bool": (bool,),
}


def show(value: Any, limit: int = 60) -> str:
    """A value for a message: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def integer(field: str, nullable: bool = False) -> Rule:
    """The field is a JSON integer in the 64-bit range (not a string, float or boolean)."""

    def rule(record: dict[str, Any]) -> str | None:
        value = record.get(field)
        if value is None:
            return None if nullable else f"{field} is missing"
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{field} {show(value)} is not an integer"
        if not BIGINT_MIN <= value <= BIGINT_MAX:
            return f"{field} {value} is out of the 64-bit integer range"
        return None

    return rule


def string(field: str) -> Rule:
    """The field is a JSON string (the cursor and key text columns)."""

    def rule(record: dict[str, Any]) -> str | None:
        value = record.get(field)
        if value is None:
            return f"{field} is missing"
        if not isinstance(value, str):
            return f"{field} {show(value)} is not a string"
        return None

    return rule


def record_check(*rules: Rule) -> Check:
    """A check that gives the first problem of a record, or None when it may land."""

    def check(record: Any) -> str | None:
        if not isinstance(record, dict):
            return "record is not a JSON object"
        for rule in rules:
            problem = rule(record)
            if problem:
                return problem
        return None

    return check


class ColumnGuard:
    """Knows the type of every column of one raw table and refuses values that do not fit.

    Call it while extracting: it reads the table's columns from the live dlt schema (what
    earlier loads created), overlays the declared hints, and learns a new column's type from
    the first record that has it, the way dlt infers it.
    """

    def __init__(self, table: str, declared: Mapping[str, Mapping[str, Any]]) -> None:
        schema = dlt.current.source_schema()
        self._normalize = schema.naming.normalize_identifier
        columns = schema.tables.get(table, {}).get("columns", {})
        self.types: dict[str, str] = {
            name: c["data_type"] for name, c in columns.items() if c.get("data_type")
        }
        self.types.update({name: c["data_type"] for name, c in declared.items()})
        self._names: dict[str, str] = {}

    def _column(self, key: str) -> str:
        name = self._names.get(key)
        if name is None:
            name = self._names[key] = self._normalize(key)
        return name

    def __call__(self, record: dict[str, Any]) -> str | None:
        """The first value that would need a variant column; None (and learn) when none."""
        new: dict[str, str] = {}
        for key, value in record.items():
            if value is None:
                continue
            name = self._column(key)
            want = self.types.get(name) or new.get(name)
            if want is None:
                want = new[name] = py_type_to_sc_type(type(value))
            if type(value) in _EXACT.get(want, ()):
                if want == "bigint" and not BIGINT_MIN <= value <= BIGINT_MAX:
                    return f"{key} {value} is out of the 64-bit integer range"
                continue
            try:
                coerce_value(want, py_type_to_sc_type(type(value)), value)
            except (ValueError, TypeError, SyntaxError):
                return f"{key} {show(value)} does not fit its {want} column"
        self.types.update(new)
        return None
