-- warns while the last week of loads quarantined a record (a key or type ingestion could not
-- read): the rest of its page loaded, this one waits in raw.<source>_quarantine for a look
{{ config(severity='warn') }}

with

quarantined as (

    select * from {{ ref('stg_ingestion__quarantine') }}

),

latest_load as (

    select loaded_at from {{ ref('int_data_range') }}

)

select
    quarantined.source_name,
    quarantined.resource,
    quarantined.page,
    quarantined.position,
    quarantined.reason

from quarantined
cross join latest_load
where quarantined.loaded_at > {{ add_seconds('latest_load.loaded_at', -7 * 86400) }}
