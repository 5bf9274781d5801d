-- per scoring month and model version: how the predictions did once the horizon passed, as the
-- most recent outcomes run computed it

{%- set string = dbt.type_string() -%}
{%- set float = dbt.type_float() -%}
{%- set bigint = dbt.type_bigint() %}

with

outcomes as (

    select *
    from {{ source_or_empty('monitoring', 'model_outcomes', {
        'scoring_month': 'date',
        'model_version': string,
        'scored': bigint,
        'churned': bigint,
        'observed_rate': float,
        'mean_probability': float,
        'roc_auc': float,
        'high_tier': bigint,
        'precision_high': float,
        'recall_high': float,
        'checked_as_of': 'date',
    }) }}

),

latest_check as (

    select
        *,
        row_number() over (
            partition by scoring_month, model_version
            order by checked_as_of desc
        ) as check_rank

    from outcomes

),

final as (

    select
        cast(scoring_month as date) as scoring_month,
        cast(model_version as {{ string }}) as model_version,
        scored,
        churned,
        observed_rate,
        mean_probability,
        mean_probability - observed_rate as calibration_gap,
        roc_auc,
        high_tier,
        precision_high,
        recall_high,
        precision_high / nullif(observed_rate, 0) as lift_high,
        cast(checked_as_of as date) as checked_as_of

    from latest_check
    where check_rank = 1

)

select * from final
