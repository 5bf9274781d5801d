-- warns while the last week of loads found a usage file rewritten with different content: it
-- was landed whole again (staging keeps the first delivery of each event id), and the source
-- that rewrote it may have changed events already counted
{{ config(severity='warn') }}

with

file_loads as (

    select * from {{ ref('stg_usage__file_loads') }}

),

latest_load as (

    select loaded_at from {{ ref('int_data_range') }}

)

select
    file_loads.source_file,
    file_loads.sha256,
    file_loads.loaded_at

from file_loads
cross join latest_load
where
    file_loads.change = 'rewritten'
    and file_loads.loaded_at > {{ add_seconds('latest_load.loaded_at', -7 * 86400) }}
