with

source as (

    select * from {{ source('stripe', 'stripe_events') }}

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

)

select
    event_id,
    event_type,
    created_at,
    cast(created_at as date) as created_date,
    event_data,
    loaded_at
from deduplicated
where delivery_rank = 1
