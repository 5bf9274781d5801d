with

source as (

    select * from {{ source('zendesk', 'zendesk_organizations') }}

),

renamed as (

    select
        cast(id as {{ dbt.type_bigint() }}) as organization_id,
        cast(external_id as {{ dbt.type_string() }}) as customer_id,
        name as organization_name,
        {{ dbt.safe_cast('created_at', dbt.type_timestamp()) }} as created_at,
        {{ dbt.safe_cast('updated_at', dbt.type_timestamp()) }} as updated_at,
        _loaded_at as loaded_at

    from source

),

latest as (

    select
        *,
        row_number() over (
            partition by organization_id
            order by updated_at desc, loaded_at desc
        ) as version_rank

    from renamed
    where organization_id is not null

)

select
    organization_id,
    customer_id,
    organization_name,
    created_at,
    updated_at,
    loaded_at
from latest
where version_rank = 1
