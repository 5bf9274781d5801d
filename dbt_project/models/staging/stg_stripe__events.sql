-- incremental: each run stages only the raw rows loaded since the last run; an event id
-- already staged is never inserted again (first delivery wins)
{{ config(materialized='incremental', on_schema_change='append_new_columns') }}
{%- set incremental = incremental_branch() %}

with

source as (

    select * from {{ source('stripe', 'stripe_events') }}
    {{ loads_to_stage(source('stripe', 'stripe_events'), incremental) }}

),

renamed as (

    select
        cast(id as {{ dbt.type_string() }}) as event_id,
        type as event_type,
        {{ timestamp_from_unix_seconds('created') }} as created_at,
        data as event_data,
        _loaded_at as loaded_at

    from source

),

deduplicated as (

    select
        *,
        row_number() over (partition by event_id order by loaded_at) as delivery_rank

    from renamed
    where event_id is not null

),

new_events as (

    select * from deduplicated
    where
        delivery_rank = 1
        and {{ key_not_in(this, 'event_id', 'deduplicated.event_id') if incremental else 'true' }}

),

flagged as (

    select
        event_id,
        event_type,
        created_at,
        cast(created_at as date) as created_date,
        event_data,
        loaded_at,
        case
            when created_at is null then 'missing created'
            {{ time_guard_reasons('created_at', label='created') }}
        end as invalid_reason

    from new_events

)

select
    *,
    invalid_reason is null as is_valid
from flagged
