-- incremental: each run types and deduplicates only the rows loaded since the last run (a
-- first build of years may take them a few loads a run: flows/staging.py); an event_id
-- already in the table is never inserted again (first delivery wins)
{{ config(materialized='incremental', on_schema_change='append_new_columns') }}
{%- set incremental = incremental_branch() %}

with

source as (

    select * from {{ source('usage', 'usage_events') }}
    {{ loads_to_stage(source('usage', 'usage_events'), incremental) }}

),

typed as (

    select
        ---------- ids
        event_id,
        customer_id,
        user_id,

        ---------- attributes
        lower(event_type) as event_type,
        feature,

        ---------- dates
        {{ safe_iso_timestamp('occurred_at') }} as occurred_at,
        {{ safe_iso_timestamp('received_at') }} as received_at,
        occurred_at as occurred_at_raw,

        ---------- lineage
        _source_file as source_file,
        _raw_line as raw_line,
        _parse_error as parse_error,
        _loaded_at as loaded_at

    from source

),

deduplicated as (

    select
        *,
        row_number() over (
            partition by event_id
            order by received_at, source_file, loaded_at
        ) as delivery_rank

    from typed

),

already_staged as (

    -- ids of this load that an earlier run staged (none on a full build). A re-delivery
    -- repeats its event, occurred_at included, so the match is on the id and the day: the
    -- warehouse then reads only the staged row groups of the load's days (min/max of the
    -- join keys) instead of every staged id. Rows whose occurred_at did not parse match on
    -- the id among the staged rows without a day. An id re-delivered with another day is
    -- staged twice and fails the unique test on event_id, naming it.
    {% if incremental %}
        select staged.event_id
        from {{ this }} as staged
        inner join typed
            on
                staged.event_id = typed.event_id
                and staged.event_date = cast(typed.occurred_at as date)

        union distinct

        select staged.event_id
        from {{ this }} as staged
        inner join typed
            on staged.event_id = typed.event_id
        where staged.event_date is null and typed.occurred_at is null
    {% else %}
        select typed.event_id
        from typed
        where false
    {% endif %}

),

flagged as (

    select
        deduplicated.event_id,
        deduplicated.customer_id,
        deduplicated.user_id,
        deduplicated.event_type,
        deduplicated.feature,
        -- the day only: what every reader counts by. The delivered times stay in raw (typed
        -- copies of occurred_at and received_at took a third of this table); the text of an
        -- occurred_at that did not parse is kept here
        cast(deduplicated.occurred_at as date) as event_date,
        case
            when deduplicated.occurred_at is null then deduplicated.occurred_at_raw
        end as occurred_at_raw,
        deduplicated.source_file,
        deduplicated.raw_line,
        deduplicated.loaded_at,
        case
            when deduplicated.raw_line is not null or deduplicated.event_id is null then 'not a json event'
            when deduplicated.parse_error is not null then 'invalid utf-8 bytes'
            when deduplicated.customer_id is null then 'missing customer_id'
            when deduplicated.occurred_at is null then 'malformed occurred_at'
            {{ time_guard_reasons('deduplicated.occurred_at', 'deduplicated.loaded_at', 'occurred_at') }}
            when deduplicated.event_type not in ('login', 'feature_use', 'export', 'integration_sync')
                or deduplicated.event_type is null then 'unknown event_type'
        end as invalid_reason

    from deduplicated
    left join already_staged
        on deduplicated.event_id = already_staged.event_id
    -- a re-delivered event_id is dropped; rows without an id are kept (and flagged)
    where
        (deduplicated.event_id is null or deduplicated.delivery_rank = 1)
        and already_staged.event_id is null

)

select
    *,
    invalid_reason is null as is_valid
from flagged
{% if target.type == 'duckdb' %}
    -- every run stores its rows by day and customer (the de-duplication shuffles them): a
    -- week's re-delivery check reads the row groups of its days only, and the ids of one
    -- customer side by side compress (shuffled rows took a sixth more room).
    -- BigQuery partitions the table by day and clusters it by customer instead.
    order by event_date, customer_id
{% endif %}
