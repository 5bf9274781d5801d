-- daily usage per customer: the pass over the events that every windowed count is computed from

with

events as (

    select * from {{ ref('stg_usage__events') }}
    where is_valid

),

daily as (

    select
        customer_id,
        event_date as usage_date,

        count(*) as events,
        sum(case when event_type = 'login' then 1 else 0 end) as logins,
        sum(case when event_type = 'feature_use' then 1 else 0 end) as feature_uses,
        sum(case when event_type = 'export' then 1 else 0 end) as exports,
        sum(case when event_type = 'integration_sync' then 1 else 0 end) as integration_syncs

    from events
    group by customer_id, event_date

)

select
    customer_id,
    usage_date,
    cast(events as {{ dbt.type_bigint() }}) as events,
    cast(logins as {{ dbt.type_bigint() }}) as logins,
    cast(feature_uses as {{ dbt.type_bigint() }}) as feature_uses,
    cast(exports as {{ dbt.type_bigint() }}) as exports,
    cast(integration_syncs as {{ dbt.type_bigint() }}) as integration_syncs
from daily
