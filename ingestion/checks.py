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
EXACT_TYPES: dict[str, tuple[type, ...]] = {
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


class IntegerRule:
    """The field is a JSON integer in the 64-bit range (not a string, float or boolean)."""

    def __init__(self, field: str, nullable: bool = False) -> None:
        self.field = field
        self.nullable = nullable

    def __call__(self, record: dict[str, Any]) -> str | None:
        value = record.get(self.field)
        if value is None:
            return None if self.nullable else f"{self.field} is missing"
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{self.field} {show(value)} is not an integer"
        if not BIGINT_MIN <= value <= BIGINT_MAX:
            return f"{self.field} {value} is out of the 64-bit integer range"
        return None

    def column_passes(self, values: list[Any]) -> bool:
        """True when every value of the field's column passes (a whole page at once)."""
        present = [value for value in values if value is not None]
        if len(present) < len(values) and not self.nullable:
            return False
        if not present:
            return True
        return set(map(type, present)) == {int} and in_bigint_range(present)


class StringRule:
    """The field is a JSON string (the cursor and key text columns)."""

    def __init__(self, field: str) -> None:
        self.field = field

    def __call__(self, record: dict[str, Any]) -> str | None:
        value = record.get(self.field)
        if value is None:
            return f"{self.field} is missing"
        if not isinstance(value, str):
            return f"{self.field} {show(value)} is not a string"
        return None

    def column_passes(self, values: list[Any]) -> bool:
        """True when every value of the field's column passes (a whole page at once)."""
        return set(map(type, values)) == {str}


def integer(field: str, nullable: bool = False) -> Rule:
    """The field is a JSON integer in the 64-bit range (not a string, float or boolean)."""
    return IntegerRule(field, nullable)


def string(field: str) -> Rule:
    """The field is a JSON string (the cursor and key text columns)."""
    return StringRule(field)


def in_bigint_range(values: list[int]) -> bool:
    """True when the (non-empty) integers all fit a 64-bit column."""
    return min(values) >= BIGINT_MIN and max(values) <= BIGINT_MAX


class RecordCheck:
    """The first problem of a record, or None when it may land; `rules` checked in order."""

    def __init__(self, *rules: Rule) -> None:
        self.rules = rules

    def __call__(self, record: Any) -> str | None:
        if not isinstance(record, dict):
            return "record is not a JSON object"
        for rule in self.rules:
            problem = rule(record)
            if problem:
                return problem
        return None

    def page_passes(self, records: list[Any], column: Callable[[str], list[Any]]) -> bool:
        """True when every record is an object that passes every rule (checked column by
        column); False when some record may not, or a rule cannot be checked by column."""
        if not all(type(record) is dict for record in records):
            return False
        for rule in self.rules:
            passes = getattr(rule, "column_passes", None)
            if passes is None or not passes(column(rule.field)):  # type: ignore[attr-defined]
                return False
        return True


def record_check(*rules: Rule) -> Check:
    """A check that gives the first problem of a record, or None when it may land."""
    return RecordCheck(*rules)


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

    def column(self, key: str) -> str:
        """The raw column a record key lands in (dlt's normalised name, cached)."""
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
            name = self.column(key)
            want = self.types.get(name) or new.get(name)
            if want is None:
                want = new[name] = py_type_to_sc_type(type(value))
            if type(value) in EXACT_TYPES.get(want, ()):
                if want == "bigint" and not BIGINT_MIN <= value <= BIGINT_MAX:
                    return f"{key} {value} is out of the 64-bit integer range"
                continue
            try:
                coerce_value(want, py_type_to_sc_type(type(value)), value)
            except (ValueError, TypeError, SyntaxError):
                return f"{key} {show(value)} does not fit its {want} column"
        self.types.update(new)
        return None

    def page_fits(self, columns: dict[str, list[Any]]) -> bool:
        """True when every value of every record key (`columns`: key -> values) has exactly
        its column's type, so no record needs coercion or quarantine; then new columns'
        types are learned from their first value, as `__call__` would. False otherwise
        (the records then go through `__call__` one by one)."""
        new: dict[str, str] = {}
        names = [self.column(key) for key in columns]
        if len(set(names)) < len(names):
            return False  # two keys, one column: the record-by-record order decides
        for name, values in zip(names, columns.values(), strict=True):
            present = [value for value in values if value is not None]
            if not present:
                continue
            want = self.types.get(name) or new.get(name)
            if want is None:
                want = new[name] = py_type_to_sc_type(type(present[0]))
            if not set(map(type, present)).issubset(EXACT_TYPES.get(want, ())):
                return False
            if want == "bigint" and not in_bigint_range(present):
                return False
        self.types.update(new)
        return True
