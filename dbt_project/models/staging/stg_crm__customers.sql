with

versions as (

    select * from {{ ref('stg_crm__customer_versions') }}
    where is_valid

),

first_seen as (

    select
        customer_id,
        min(valid_from) as first_seen_at

    from versions
    group by customer_id

),

latest as (

    select
        versions.customer_id,
        versions.company_name,
        versions.industry,
        versions.country,
        versions.plan,
        versions.seats,
        versions.contract_type,
        versions.account_owner,
        versions.signup_date,
        versions.valid_from as updated_at,
        first_seen.first_seen_at,
        versions.version_number as n_versions,
        versions.loaded_at

    from versions
    inner join first_seen
        on versions.customer_id = first_seen.customer_id
    where versions.valid_to is null

)

select * from latest
