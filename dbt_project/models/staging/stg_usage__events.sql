-- incremental: each run types and deduplicates only the rows loaded since the last run; an
-- event_id already in the table is never inserted again (first delivery wins)
{{ config(materialized='incremental', on_schema_change='append_new_columns') }}
{%- set incremental = incremental_branch() %}

with

source as (

    select * from {{ source('usage', 'usage_events') }}
    {% if incremental %}
        where _loaded_at > {{ last_loaded_at() }}
    {% endif %}

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

flagged as (

    select
        event_id,
        customer_id,
        user_id,
        event_type,
        feature,
        occurred_at,
        cast(occurred_at as date) as event_date,
        received_at,
        occurred_at_raw,
        source_file,
        raw_line,
        loaded_at,
        case
            when raw_line is not null or event_id is null then 'not a json event'
            when customer_id is null then 'missing customer_id'
            when occurred_at is null then 'malformed occurred_at'
            when event_type not in ('login', 'feature_use', 'export', 'integration_sync')
                or event_type is null then 'unknown event_type'
        end as invalid_reason

    from deduplicated
    -- a re-delivered event_id is dropped; rows without an id are kept (and flagged)
    where
        (event_id is null or delivery_rank = 1)
        and {{ key_not_in(this, 'event_id', 'deduplicated.event_id') if incremental else 'true' }}

)

select
    *,
    invalid_reason is null as is_valid
from flagged
