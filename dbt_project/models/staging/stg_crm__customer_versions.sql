with

source as (

    select * from {{ source('crm', 'crm_customers') }}

),

renamed as (

    select
        ---------- ids
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,

        ---------- attributes
        company_name,
        industry,
        upper(country) as country,
        lower(plan) as plan,
        {{ dbt.safe_cast('seats', dbt.type_int()) }} as seats,
        lower(contract_type) as contract_type,
        account_owner,

        ---------- dates
        {{ dbt.safe_cast('signup_date', 'date') }} as signup_date,
        {{ dbt.safe_cast('updated_at', dbt.type_timestamp()) }} as updated_at,
        _loaded_at as loaded_at

    from source

),

deduplicated as (

    select
        *,
        row_number() over (
            partition by customer_id, updated_at
            order by loaded_at desc
        ) as delivery_rank

    from renamed
    where customer_id is not null

),

versioned as (

    select
        customer_id,
        company_name,
        industry,
        country,
        plan,
        seats,
        contract_type,
        account_owner,
        signup_date,
        updated_at as valid_from,
        lead(updated_at) over (
            partition by customer_id order by updated_at
        ) as valid_to,
        row_number() over (
            partition by customer_id order by updated_at
        ) as version_number,
        loaded_at

    from deduplicated
    where delivery_rank = 1

)

select * from versioned
