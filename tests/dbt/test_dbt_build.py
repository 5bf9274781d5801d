"""`dbt build` passes on the raw fixture; the features have the contract's names and values."""

from __future__ import annotations

from datetime import date

import duckdb

FEATURES = [
    "logins_7d",
    "logins_30d",
    "logins_90d",
    "events_7d",
    "events_30d",
    "active_days_30d",
    "feature_uses_30d",
    "exports_30d",
    "integration_syncs_30d",
    "distinct_features_30d",
    "active_users_30d",
    "seat_utilisation",
    "logins_30d_change_pct",
    "events_7d_vs_30d_ratio",
    "days_since_last_login",
    "tickets_90d",
    "escalated_tickets_90d",
    "bad_satisfaction_90d",
    "open_tickets",
    "oldest_open_ticket_days",
    "mrr",
    "mrr_change_90d_pct",
    "failed_payments_90d",
    "days_since_last_failed_payment",
    "has_discount",
    "plan",
    "contract_type",
    "industry",
    "country",
    "seats",
    "tenure_days",
    "days_to_renewal",
    "cs_contacts_90d",
    "cs_offers_90d",
    "days_since_last_cs_contact",
]
# raw key tests warn (not fail): staging removes the re-delivered ticket the fixture contains
EXPECTED_WARNINGS = {
    "test.churn.source_unique_combination_of_columns_zendesk_zendesk_tickets_id__updated_at"
}


def test_every_node_passes(built_warehouse):
    _path, run = built_warehouse
    statuses = run.node_statuses()
    assert run.result.success, run.log[-3000:]
    kinds = {uid.split(".")[0] for uid in statuses}
    assert {"model", "test", "unit_test"} <= kinds

    def expected_warning(uid: str) -> bool:
        return any(uid.startswith(prefix + ".") for prefix in EXPECTED_WARNINGS)

    bad = {
        uid: s
        for uid, s in statuses.items()
        if s not in ("success", "pass")
        and not expected_warning(uid)
        and not (uid.startswith("exposure.") and s == "no-op")  # exposures are only listed
    }
    assert not bad, bad
    assert sum(uid.startswith("unit_test.") for uid in statuses) >= 5
    warned = [uid for uid in statuses if expected_warning(uid)]
    assert len(warned) == len(EXPECTED_WARNINGS)
    assert all(statuses[uid] == "warn" for uid in warned)


def test_source_key_warning_names_a_sample_key(built_warehouse):
    _path, run = built_warehouse
    lines = [m for m in run.messages if m.startswith("TEST FAILURE")]
    assert any(
        "zendesk.zendesk_tickets" in m and "id, updated_at" in m and "3|2024-10-08T10:00:00Z" in m
        for m in lines
    ), lines


def test_features_have_the_contract_names(built_warehouse):
    path, _run = built_warehouse
    con = duckdb.connect(str(path))
    try:
        for table in ("customer_features", "training_set"):
            cols = [
                r[0]
                for r in con.execute(
                    "select column_name from information_schema.columns "
                    f"where table_schema = 'features' and table_name = '{table}' "
                    "order by ordinal_position"
                ).fetchall()
            ]
            assert cols[:2] == ["customer_id", "as_of_date"]
            expected = FEATURES + (["churned"] if table == "training_set" else [])
            assert sorted(cols[2:]) == sorted(expected)
    finally:
        con.close()


def test_spine_labels_and_dirt(built_warehouse):
    path, _run = built_warehouse
    con = duckdb.connect(str(path))
    try:
        q = con.execute
        # every as_of_date is a Monday; the spine starts 12 weeks after the first usage day
        days = q("select distinct as_of_date from features.customer_features").fetchall()
        assert all(d.weekday() == 0 for (d,) in days)
        assert min(d for (d,) in days) == date(2024, 9, 23)
        # C0000005 cancelled on 2024-10-15: last snapshot 2024-10-14, labelled churned
        rows = q(
            "select as_of_date, churned from features.training_set "
            "where customer_id = 'C0000005' order by as_of_date"
        ).fetchall()
        assert rows[-1] == (date(2024, 10, 14), True)
        assert [c for _d, c in rows] == [True] * len(rows)  # 9-23..10-14 all within 28 days
        # C0000004 signed up 2024-10-10: first snapshot 2024-10-14
        assert q(
            "select min(as_of_date) from features.customer_features where customer_id = 'C0000004'"
        ).fetchone()[0] == date(2024, 10, 14)
        # the horizon has passed for every training row (latest data 2024-12-31)
        assert q("select max(as_of_date) from features.training_set").fetchone()[0] == date(
            2024, 12, 2
        )
        # dirt is flagged, not dropped; re-delivered events are kept once
        reasons = dict(
            q(
                "select invalid_reason, count(*) from staging.stg_usage__events "
                "where not is_valid group by 1"
            ).fetchall()
        )
        assert reasons == {
            "not a json event": 1,
            "missing customer_id": 1,
            "malformed occurred_at": 3,
            "unknown event_type": 1,
        }
        # each delivered id staged once, and every row without an id (flagged)
        assert (
            q("select count(*) from staging.stg_usage__events").fetchone()[0]
            == q(
                "select count(distinct event_id) + count(*) filter (where event_id is null) "
                "from raw.usage_events"
            ).fetchone()[0]
            < q("select count(*) from raw.usage_events").fetchone()[0]
        )
        # C0000006: 20% discount, 14 seats, two failed payments, an open ticket since August
        row = q(
            "select mrr, has_discount, seats, failed_payments_90d, open_tickets, "
            "oldest_open_ticket_days from features.customer_features "
            "where customer_id = 'C0000006' and as_of_date = date '2024-11-04'"
        ).fetchone()
        # growth annual: $30 per seat-month x 14 seats x (1 - 20%) = $336 MRR
        assert row == (336.0, True, 14, 2, 1, 76)
    finally:
        con.close()


def test_docs_generate_offline_and_everything_described(warehouse_copy, tmp_path):
    import json

    from dbt_helpers import run_dbt

    target = tmp_path / "target"
    run = run_dbt(["docs", "generate"], warehouse_copy, target)
    assert run.result.success, run.log[-3000:]
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    missing = []
    for uid, node in manifest["nodes"].items():
        if node["resource_type"] != "model":
            continue
        if not node["description"].strip():
            missing.append(uid)
        for column in catalog["nodes"].get(uid, {}).get("columns", {}):
            if not node["columns"].get(column, {}).get("description", "").strip():
                missing.append(f"{uid}.{column}")
    for uid, source in manifest["sources"].items():
        if not source["description"].strip():
            missing.append(uid)
        for column in catalog["sources"].get(uid, {}).get("columns", {}):
            if column not in source["columns"]:
                missing.append(f"{uid}.{column}")
    assert not missing, missing
