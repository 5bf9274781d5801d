-- the users and features active per customer and ISO week, with their first and last active
-- day in that week: enough to count distinct members over any [D - 30, D) window exactly
-- (a distinct count cannot be summed from daily totals).
-- incremental and insert-only: a run adds the member-weeks of the events staged since the last
-- run, late weeks included, as rows of their own; a member-week that two loads touched has a
-- row from each (readers take the earliest first and latest last day). Merging them here would
-- read and rewrite the whole table every week.
{{ config(
    materialized='incremental',
    on_schema_change='append_new_columns',
    partition_by=(
        {'field': 'week_start', 'data_type': 'date', 'granularity': 'month'}
        if target.type == 'bigquery' else none
    ),
    cluster_by=(['customer_id'] if target.type == 'bigquery' else none),
) }}
{%- set incremental = incremental_branch() %}

with

events as (

    select * from {{ ref('stg_usage__events') }}
    where is_valid
    {% if incremental %}
        and loaded_at > {{ last_loaded_at() }}
    {% endif %}

),

users as (

    select
        customer_id,
        'user' as member_type,
        user_id as member,
        {{ week_start('event_date') }} as week_start,
        min(event_date) as first_active_date,
        max(event_date) as last_active_date,
        max(loaded_at) as loaded_at

    from events
    where user_id is not null
    group by customer_id, user_id, {{ week_start('event_date') }}

),

features as (

    select
        customer_id,
        'feature' as member_type,
        feature as member,
        {{ week_start('event_date') }} as week_start,
        min(event_date) as first_active_date,
        max(event_date) as last_active_date,
        max(loaded_at) as loaded_at

    from events
    where feature is not null
    group by customer_id, feature, {{ week_start('event_date') }}

),

new_member_weeks as (

    select * from users
    union all
    select * from features

)

select * from new_member_weeks
