"""Which customers are in the randomized control group at a date, so CS tools calling the API
can keep them out as the CS list does.

A customer's group is the one drawn for their open High episode (`models_ml.holdout`): the
scored weeks after their last week that was not High, which exist only while the latest
scored week is High. The episode starts at the first of those weeks; the group is the first
assignment recorded for (customer, that start), as `marts.high_risk_episodes` reads it. Only
scored weeks up to the date count, and a week rescored keeps its latest batch.
"""

from __future__ import annotations

from datetime import date

from warehouse.interface import check_name

HIGH = "High"
GROUPS = ("control", "treated")


def open_episode_groups(
    warehouse, as_of: date, predictions_table: str, holdout_table: str
) -> dict[str, str]:
    """customer_id -> 'control' | 'treated' for every customer in an open, assigned High
    episode at `as_of` (customers not in one, or whose episode predates the holdout, are
    left out). Empty when either table does not exist yet. One query, filtered in the
    warehouse: only the High customers' rows come back."""
    if not (warehouse.table_exists(predictions_table) and warehouse.table_exists(holdout_table)):
        return {}
    predictions, holdout = check_name(predictions_table), check_name(holdout_table)
    frame = warehouse.query(
        f"""
        with scored as (
            select
                customer_id,
                as_of_date,
                risk_tier,
                row_number() over (
                    partition by customer_id, as_of_date order by scored_at desc, model_version desc
                ) as batch_rank
            from {predictions}
            where as_of_date <= ?
        ),
        weeks as (
            select customer_id, as_of_date, risk_tier from scored where batch_rank = 1
        ),
        last_not_high as (
            select customer_id, max(as_of_date) as as_of_date
            from weeks
            where risk_tier <> '{HIGH}'
            group by customer_id
        ),
        open_episodes as (
            select weeks.customer_id, min(weeks.as_of_date) as episode_start
            from weeks
            left join last_not_high on weeks.customer_id = last_not_high.customer_id
            where last_not_high.as_of_date is null or weeks.as_of_date > last_not_high.as_of_date
            group by weeks.customer_id
        ),
        first_assignment as (
            select
                customer_id,
                cast(episode_start as date) as episode_start,
                holdout_group,
                row_number() over (
                    partition by customer_id, cast(episode_start as date)
                    order by assigned_at, model_version
                ) as assignment_rank
            from {holdout}
        )
        select open_episodes.customer_id, first_assignment.holdout_group
        from open_episodes
        inner join first_assignment
            on open_episodes.customer_id = first_assignment.customer_id
            and cast(open_episodes.episode_start as date) = first_assignment.episode_start
            and first_assignment.assignment_rank = 1
        """,
        [as_of],
    )
    return {
        str(c): str(g)
        for c, g in zip(frame["customer_id"], frame["holdout_group"], strict=True)
        if g in GROUPS
    }
