-- incremental: each run types and deduplicates only the rows loaded since the last run (a
-- first build of years may take them a few loads a run: flows/staging.py); an event_id that
-- an earlier load delivered is never inserted again (first delivery wins). The table follows
-- the model's columns (a warehouse staged before drops the typed times it no longer keeps)
-- On DuckDB the run's raw rows are read twice (all columns, then the ids) and the planner
-- would otherwise hold them once as a shared subplan: 55M rows in memory and spilled for two
-- loads at 1M customers. Read twice from the table they are 145 s and no spill.
{{ config(
    materialized='incremental',
    on_schema_change='sync_all_columns',
    pre_hook=(["set disabled_optimizers = 'common_subplan'"] if target.type == 'duckdb' else []),
    post_hook=(["reset disabled_optimizers"] if target.type == 'duckdb' else []),
) }}
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

already_delivered as (

    -- ids of this run's rows that a load staged before delivered already (none on a full
    -- build): that first delivery was staged then. Raw holds every delivered id, so the
    -- staged table keeps no copy of them (460M at 1M customers, more than half of it). Both
    -- sides read raw's id column: the warehouse hashes this run's ids and streams the earlier
    -- loads' past them (joined to the typed rows, it hashed every earlier id instead and
    -- spilled 19 GB for two loads at 1M customers)
    {% if incremental %}
        select distinct earlier.event_id
        from {{ source('usage', 'usage_events') }} as earlier
        where
            earlier._loaded_at <= {{ last_loaded_at() }}
            and earlier.event_id in (
                select this_run.event_id
                from {{ source('usage', 'usage_events') }} as this_run
                {{ loads_to_stage(source('usage', 'usage_events'), incremental) }}
            )
    {% else %}
        select no_rows.event_id
        from {{ source('usage', 'usage_events') }} as no_rows
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
    left join already_delivered
        on deduplicated.event_id = already_delivered.event_id
    -- a re-delivered event_id is dropped; rows without an id are kept (and flagged)
    where
        (deduplicated.event_id is null or deduplicated.delivery_rank = 1)
        and already_delivered.event_id is null

)

select
    -- the id of a flagged row, to find it in raw; a valid row is counted, not looked up
    case when flagged.invalid_reason is not null then flagged.event_id end as event_id,
    {{ all_columns_except('flagged', ['event_id']) }},
    flagged.invalid_reason is null as is_valid
from flagged
{% if target.type == 'duckdb' %}
    -- every run stores its rows by day and customer (the de-duplication shuffles them), so
    -- that the ids of one customer side by side compress (shuffled rows took a sixth more
    -- room); BigQuery partitions the table by day and clusters it by customer instead.
    order by flagged.event_date, flagged.customer_id
{% endif %}
