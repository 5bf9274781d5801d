-- one row per checked features snapshot: the latest drift check of that week

{%- set string = dbt.type_string() -%}
{%- set float = dbt.type_float() -%}
{%- set bigint = dbt.type_bigint() %}

with

checks as (

    select *
    from {{ source_or_empty('monitoring', 'drift_checks', {
        'check_id': string,
        'as_of_date': 'date',
        'model_version': string,
        'features_checked': bigint,
        'features_drifted': bigint,
        'drift_share': float,
        'status': string,
        'report_path': string,
        'checked_at': dbt.type_timestamp(),
    }) }}

),

ranked as (

    select
        *,
        row_number() over (partition by as_of_date order by checked_at desc) as check_rank

    from checks

),

final as (

    select
        cast(as_of_date as date) as as_of_date,
        check_id,
        cast(model_version as {{ string }}) as model_version,
        features_checked,
        features_drifted,
        drift_share,
        status,
        report_path,
        checked_at

    from ranked
    where check_rank = 1

)

select * from final
