-- daily usage per customer: the one pass over the events that every windowed count reads.
-- incremental: a run counts only the events staged since the last run (staging is insert-only,
-- so those are new events) and adds them to the days they fall on, late days included
{{ incremental_by_customer_date(['customer_id', 'usage_date'], 'usage_date') }}
{%- set incremental = incremental_branch() %}

with

events as (

    select * from {{ ref('stg_usage__events') }}
    where is_valid
    {% if incremental %}
        and loaded_at > {{ last_loaded_at() }}
    {% endif %}

),

new_counts as (

    select
        customer_id,
        event_date as usage_date,

        count(*) as events,
        sum(case when event_type = 'login' then 1 else 0 end) as logins,
        sum(case when event_type = 'feature_use' then 1 else 0 end) as feature_uses,
        sum(case when event_type = 'export' then 1 else 0 end) as exports,
        sum(case when event_type = 'integration_sync' then 1 else 0 end) as integration_syncs,
        max(loaded_at) as loaded_at

    from events
    group by customer_id, event_date

),

{% if incremental %}
    counted as (

        -- the days already counted that the new events touch: joined from the new counts, so
        -- the warehouse probes the table rather than building a hash table of it
        select counted.*

        from {{ this }} as counted
        inner join new_counts
            on
                counted.customer_id = new_counts.customer_id
                and counted.usage_date = new_counts.usage_date

    ),
{% endif %}

daily as (

    {% if incremental %}
        -- a day that already had events keeps its counts and adds the new ones
        select
            new_counts.customer_id,
            new_counts.usage_date,
            new_counts.events + coalesce(counted.events, 0) as events,
            new_counts.logins + coalesce(counted.logins, 0) as logins,
            new_counts.feature_uses + coalesce(counted.feature_uses, 0) as feature_uses,
            new_counts.exports + coalesce(counted.exports, 0) as exports,
            new_counts.integration_syncs + coalesce(counted.integration_syncs, 0)
                as integration_syncs,
            new_counts.loaded_at

        from new_counts
        left join counted
            on
                new_counts.customer_id = counted.customer_id
                and new_counts.usage_date = counted.usage_date
    {% else %}
        select * from new_counts
    {% endif %}

)

select
    customer_id,
    usage_date,
    cast(events as {{ dbt.type_bigint() }}) as events,
    cast(logins as {{ dbt.type_bigint() }}) as logins,
    cast(feature_uses as {{ dbt.type_bigint() }}) as feature_uses,
    cast(exports as {{ dbt.type_bigint() }}) as exports,
    cast(integration_syncs as {{ dbt.type_bigint() }}) as integration_syncs,
    loaded_at
from daily
