"""Who is newly High: the one definition the scoring alert and the CS app share.

A customer is newly High when this week's tier is High and the tier of their previous scored
week was not, or when they were never scored before: a customer whose first score is High is
new to the CS list too. "Previous scored week" is the customer's latest week before this one
(the latest batch of that week), exactly as the marts' `previous_tier` is built.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from warehouse.interface import check_name

HIGH = "High"


def newly_high(risk_tier: pd.Series, previous_tier: pd.Series) -> pd.Series:
    """True where the tier is High now and was not (or did not exist) the week before."""
    return risk_tier.eq(HIGH) & ~previous_tier.eq(HIGH)


def newly_high_customers(warehouse, as_of: date, table: str) -> list[str]:
    """Ids of the customers newly High at `as_of`, sorted, from the predictions `table`
    (`MLConfig.predictions_table`: this module stays free of the config's imports)."""
    table = check_name(table)  # spliced into the SQL
    # filtered in the warehouse: only the new High ones come back (on BigQuery a batch holds
    # every customer; its newly High ones are few)
    frame = warehouse.query(
        f"""
        with this_week as (
            select
                customer_id,
                risk_tier,
                row_number() over (
                    partition by customer_id order by scored_at desc, model_version desc
                ) as batch_rank
            from {table}
            where as_of_date = ?
        ),
        high_now as (
            select customer_id from this_week where batch_rank = 1 and risk_tier = '{HIGH}'
        ),
        previous as (
            select
                customer_id,
                risk_tier,
                row_number() over (
                    partition by customer_id
                    order by as_of_date desc, scored_at desc, model_version desc
                ) as back
            from {table}
            where as_of_date < ? and customer_id in (select customer_id from high_now)
        )
        select high_now.customer_id
        from high_now
        left join previous on previous.customer_id = high_now.customer_id and previous.back = 1
        where previous.customer_id is null or previous.risk_tier <> '{HIGH}'
        """,
        [as_of, as_of],
    )
    return sorted(frame["customer_id"].astype(str))
