"""Start bqemulator with the translation fixes our models need (runs in `.venv-emulators`).

bqemulator translates BigQuery SQL to DuckDB (sqlglot, then its own `TranslationRule`s). Where
it translates a construct of ours wrongly, the fix lives here, as one more rule registered
before the server starts, never in the models: the models stay the SQL BigQuery runs.
Each rule names the difference it bridges; docs/bigquery_emulator.md lists them all.

Usage (what `emulators.BigQueryEmulator` runs):
    .venv-emulators/bin/python tests/bigquery/bqemulator_patched.py start --rest-port ...
"""

from __future__ import annotations

import sys

from bqemulator.sql.rules import TranslationRule, register
from sqlglot import exp


def _unit(node: exp.Expression) -> str:
    unit = node.args.get("unit")
    if unit is None:
        return ""
    return str(unit.name if isinstance(unit, (exp.Literal, exp.Var)) else unit.sql()).upper()


@register
class DateTruncIsoweekRule(TranslationRule):
    """`DATE_TRUNC(d, ISOWEEK)` -> DuckDB `CAST(DATE_TRUNC('WEEK', d) AS DATE)`.

    sqlglot passes the BigQuery part through as `DATE_TRUNC('ISOWEEK', d)`, which DuckDB
    rejects ("extract specifier ISOWEEK not recognized"). DuckDB's `week` is the ISO week
    (Monday start), so only the name changes; a DATE argument keeps a DATE result, as on
    BigQuery (DuckDB's date_trunc of a DATE returns a TIMESTAMP).
    """

    name = "DATE_TRUNC_ISOWEEK"

    def applies_to(self, node: exp.Expression) -> bool:
        return isinstance(node, (exp.DateTrunc, exp.TimestampTrunc)) and _unit(node) == "ISOWEEK"

    def rewrite(self, node: exp.Expression) -> exp.Expression:
        operand = node.this.copy()
        truncated = exp.DateTrunc(unit=exp.Literal.string("WEEK"), this=operand)
        is_date = isinstance(operand, exp.Cast) and operand.to.this == exp.DataType.Type.DATE
        if is_date:
            return exp.Cast(this=truncated, to=exp.DataType.build("DATE"))
        return truncated


def _first_select_in_parentheses(original):
    """Wrap the CTAS-with-schema rewriter's body walker so `AS ( SELECT ... )` is seen.

    dbt-bigquery writes a contract-enforced table as
    `CREATE OR REPLACE TABLE t (col type, ...) ... AS ( SELECT ... )`. bqemulator turns the
    combined form (which DuckDB cannot parse) into a plain CTAS with casts, but only when the
    body is a bare SELECT; in parentheses it leaves the statement alone and DuckDB fails with
    `syntax error at or near "AS"`.
    """

    def first_select(body):
        while isinstance(body, (exp.Subquery, exp.Paren)) and body.this is not None:
            body = body.this
        return original(body)

    return first_select


def apply_patches() -> None:
    """Patch module-level helpers of bqemulator (rules register on import of this module)."""
    from bqemulator.sql.rewriter import create_table_schema_ctas as ctas

    ctas._first_select = _first_select_in_parentheses(ctas._first_select)


if __name__ == "__main__":
    from bqemulator.cli import main

    apply_patches()

    sys.exit(main())
