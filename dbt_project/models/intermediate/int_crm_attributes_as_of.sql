-- CRM attributes per snapshot: the customer's version last updated on a day before D. When
-- ingestion first saw the customer after D (no earlier version), the first captured version is
-- used for these slowly changing attributes; rows added later never change it.
{{ incremental_by_customer_date(
    ['customer_id', 'as_of_date'], 'as_of_date', 'day', churn_dates_from='int_customer_churn_dates'
) }}

with

spine as (

    select
        customer_id,
        as_of_date,
        added_loaded_at as spine_loaded_at
    from {{ ref('int_customer_weeks') }}

),

versions as (

    select * from {{ ref('stg_crm__customer_versions') }}
    where is_valid

),

{{ snapshot_targets([(
    ref('stg_crm__customer_versions'),
    "case when version_number = 1 then cast('1900-01-01' as date)"
    ~ " else cast(valid_from as date) end",
)]) }},

version_at_d as (

    select
        spine.customer_id,
        spine.as_of_date,
        versions.plan,
        versions.seats,
        versions.contract_type,
        versions.industry,
        versions.country

    from targets as spine
    inner join versions
        on spine.customer_id = versions.customer_id
            and cast(versions.valid_from as date) < spine.as_of_date
            and (versions.valid_to is null or cast(versions.valid_to as date) >= spine.as_of_date)

),

first_version as (

    select * from versions
    where version_number = 1

),

attributes as (

    select
        spine.customer_id,
        spine.as_of_date,
        version_at_d.customer_id is not null as is_version_as_of_date,
        coalesce(version_at_d.plan, first_version.plan) as plan,
        coalesce(version_at_d.seats, first_version.seats) as seats,
        coalesce(version_at_d.contract_type, first_version.contract_type) as contract_type,
        case when version_at_d.customer_id is not null
                then version_at_d.industry
            else first_version.industry
        end as industry,
        case when version_at_d.customer_id is not null
                then version_at_d.country
            else first_version.country
        end as country

    from targets as spine
    left join version_at_d
        on spine.customer_id = version_at_d.customer_id
            and spine.as_of_date = version_at_d.as_of_date
    left join first_version
        on spine.customer_id = first_version.customer_id

)

select
    attributes.*,
    watermark.inputs_loaded_at
from attributes
cross join watermark
