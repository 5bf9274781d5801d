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

checked as (

    select
        *,
        case
            {{ time_guard_reasons('updated_at', label='updated_at') }}
            {{ time_guard_reasons(dbt.safe_cast('signup_date', dbt.type_timestamp()), label='signup_date') }}
        end as invalid_reason,
        case
            {{ time_guard_reasons('updated_at', label='updated_at') }}
        end as updated_at_outside

    from deduplicated
    where delivery_rank = 1

),

versioned as (

    -- versions chain only through updates dated inside the time window (the partition keeps
    -- the others apart): an update stamped 2099 must not end the version before it, nor
    -- become the customer's latest; it has no valid_to and no version number
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
        case
            when updated_at_outside is null
                then lead(updated_at) over (
                        partition by customer_id, updated_at_outside is null order by updated_at
                    )
        end as valid_to,
        case
            when updated_at_outside is null
                then row_number() over (
                        partition by customer_id, updated_at_outside is null order by updated_at
                    )
        end as version_number,
        invalid_reason,
        loaded_at

    from checked

)

select
    *,
    invalid_reason is null as is_valid
from versioned
