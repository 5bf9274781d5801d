"""Every model (and data test) compiles for the `bigquery` target offline, with no DuckDB-only SQL.

What works offline: `dbt compile --target bigquery --no-populate-cache --no-introspect` with
`method: oauth-secrets` and a dummy token. dbt then never lists datasets nor runs a query, so
it needs no network or credentials. Models must not introspect at compile time: the one
incremental model takes `--vars '{"incremental_branch": true}'` instead of `is_incremental()`.
"""

from __future__ import annotations

import re

import pytest
import sqlglot
from dbt_helpers import run_dbt

BIGQUERY_ENV = {
    "CHURN_BIGQUERY_METHOD": "oauth-secrets",
    "CHURN_BIGQUERY_TOKEN": "offline-dummy-token",
    "CHURN_BIGQUERY_PROJECT": "offline-project",
    "CHURN_BIGQUERY_DATASET": "churn",
}

# functions, types and syntax that DuckDB has and BigQuery does not
DUCKDB_ONLY = {
    "try_cast": r"\btry_cast\s*\(",
    "json_extract_string": r"\bjson_extract_string\s*\(",
    "json_extract": r"\bjson_extract\s*\(",
    "list functions": r"\blist_\w+\s*\(",
    "make_timestamp": r"\bmake_timestamp\s*\(",
    "to_timestamp": r"\bto_timestamp\s*\(",
    "epoch": r"\bepoch(_ms)?\s*\(",
    "strftime/strptime": r"\bstr[fp]time\s*\(",
    "date_diff('part', ...)": r"\bdate_?diff\s*\(\s*'",
    "date_trunc('part', ...)": r"\bdate_trunc\s*\(\s*'",
    "generate_series": r"\bgenerate_series\s*\(",
    "regexp_matches": r"\bregexp_matches\s*\(",
    "struct_pack": r"\bstruct_pack\s*\(",
    ":: casts": r"::",
    "interval '1 day'": r"\binterval\s+'",
    "varchar type": r"\bvarchar\b",
    "double type": r"\bas\s+double\b",
    "hugeint type": r"\bhugeint\b",
    "ilike": r"\bilike\b",
    '"double-quoted"."identifiers"': r'"\w+"\s*\.\s*"\w+"',
}


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    target = tmp_path_factory.mktemp("bq_compile")
    run = run_dbt(
        ["compile", "--target", "bigquery", "--no-populate-cache", "--no-introspect"],
        warehouse=None,
        target_path=target,
        env=BIGQUERY_ENV,
        # render the incremental branch too, without asking BigQuery whether the table exists
        dbt_vars={"incremental_branch": True},
    )
    assert run.result.success, run.log[-3000:]
    nodes = {r.node.unique_id: r.node for r in run.result.result.results}
    return nodes


def test_every_model_compiles_for_bigquery(compiled):
    models = {uid: n for uid, n in compiled.items() if uid.startswith("model.")}
    assert len(models) >= 20
    for uid, node in models.items():
        assert node.compiled_code and "select" in node.compiled_code.lower(), uid
        assert "`offline-project`" in node.compiled_code or "source" not in uid, uid
    # the cross-database macros dispatched to their BigQuery forms
    sql = "\n".join(n.compiled_code for n in models.values())
    for bigquery_form in ("json_value(", "safe_cast(", "timestamp_seconds(", "isoweek"):
        assert bigquery_form in sql, bigquery_form


def test_no_duckdb_only_sql(compiled):
    problems = []
    for uid, node in compiled.items():
        if not uid.startswith(("model.", "test.")):
            continue
        sql = _strip_comments(node.compiled_code or "")
        for name, pattern in DUCKDB_ONLY.items():
            if re.search(pattern, sql, flags=re.IGNORECASE):
                problems.append(f"{uid}: {name}")
    assert not problems, "\n".join(problems)


def test_compiled_sql_parses_as_bigquery(compiled):
    errors = []
    for uid, node in compiled.items():
        if not uid.startswith(("model.", "test.")):
            continue
        try:
            sqlglot.parse(node.compiled_code, read="bigquery")
        except sqlglot.errors.ParseError as exc:
            errors.append(f"{uid}: {exc}")
    assert not errors, "\n".join(errors)
