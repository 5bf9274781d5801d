-- the save effect measured against the randomized control group (intention to treat): per
-- month of episode start and for all months together, churn within the horizon of treated and
-- control episodes whose horizon has passed, the difference with a 95% interval, the saves it
-- implies and a sample-ratio check of the split (models_ml/monitoring/save_effect.py is the
-- same computation in Python)

{%- set float = dbt.type_float() %}
{%- set bigint = dbt.type_bigint() %}
{%- set share = var('holdout_share') | float %}
{%- set z_95 = 1.959963984540054 %}

{%- set aggregates %}
        cast(sum(case when holdout_group = 'treated' then 1 else 0 end) as {{ bigint }})
            as treated_n,
        cast(sum(case when holdout_group = 'control' then 1 else 0 end) as {{ bigint }})
            as control_n,
        cast(sum(
            case when holdout_group = 'treated' and churned_within_horizon then 1 else 0 end
        ) as {{ bigint }}) as treated_churned,
        cast(sum(
            case when holdout_group = 'control' and churned_within_horizon then 1 else 0 end
        ) as {{ bigint }}) as control_churned,
        sum(case when holdout_group = 'treated' then mrr_at_start else 0 end) as treated_mrr
{%- endset %}

with

episodes as (

    select * from {{ ref('high_risk_episodes') }}

),

measured as (

    select
        scoring_month,
        holdout_group,
        churned_within_horizon,
        mrr_at_start

    from episodes
    where horizon_passed and holdout_group in ('treated', 'control')

),

monthly as (

    select
        scoring_month,
        false as cumulative,
        {{ aggregates }}

    from measured
    group by scoring_month

),

all_months as (

    select
        cast(null as date) as scoring_month,
        true as cumulative,
        {{ aggregates }}

    from measured

),

counted as (

    select * from monthly
    union all
    select * from all_months
    where treated_n + control_n > 0

),

rates as (

    select
        *,
        cast(treated_churned as {{ float }}) / nullif(treated_n, 0) as treated_churn_rate,
        cast(control_churned as {{ float }}) / nullif(control_n, 0) as control_churn_rate,
        cast(control_n as {{ float }}) / (treated_n + control_n) as observed_control_share

    from counted

),

---------- normal approximation of the difference of two proportions
effects as (

    select
        *,
        control_churn_rate - treated_churn_rate as effect,
        sqrt(
            treated_churn_rate * (1 - treated_churn_rate) / nullif(treated_n, 0)
            + control_churn_rate * (1 - control_churn_rate) / nullif(control_n, 0)
        ) as effect_se,
        {%- if 0 < share < 1 %}
            abs(control_n - (treated_n + control_n) * {{ share }})
            / sqrt((treated_n + control_n) * {{ share }} * (1 - {{ share }}))
            / sqrt(2.0) as srm_x
        {%- else %}
            cast(null as {{ float }}) as srm_x
        {%- endif %}

    from rates

),

---------- erfc(x), two-sided p of the split's z (Abramowitz & Stegun 7.1.26, error < 2e-7)
srm as (

    select
        *,
        1.0 / (1.0 + 0.3275911 * srm_x) as srm_t

    from effects

),

estimates as (

    select
        scoring_month,
        cumulative,
        treated_n,
        control_n,
        treated_churned,
        control_churned,
        treated_churn_rate,
        control_churn_rate,
        effect,
        -- a difference of two shares lies in [-1, 1]; a small group's normal interval can
        -- reach past that (greatest/least skip nulls on DuckDB, not on BigQuery: guarded)
        case
            when effect_se is not null then greatest(effect - {{ z_95 }} * effect_se, -1.0)
        end as ci_low,
        case
            when effect_se is not null then least(effect + {{ z_95 }} * effect_se, 1.0)
        end as ci_high,
        effect * treated_n as saved_customers,
        effect * treated_mrr as saved_mrr,
        observed_control_share,
        cast({{ share }} as {{ float }}) as expected_control_share,
        srm_t * (
            0.254829592 + srm_t * (
                -0.284496736 + srm_t * (
                    1.421413741 + srm_t * (-1.453152027 + srm_t * 1.061405429)
                )
            )
        ) * exp(-srm_x * srm_x) as srm_p_value

    from srm

),

final as (

    select
        *,
        coalesce(srm_p_value < {{ var('holdout_srm_alpha') }}, false) as srm_mismatch

    from estimates

)

select * from final
