-- per scored week, segment and tier: customers, MRR, MRR at risk and mean risk; the segment
-- `all` / `all` is the whole book. Every tier appears in every segment-week (zero when empty).

{%- set segments = {'all': "'all'", 'plan': 'plan', 'industry': 'industry', 'owner': 'account_owner'} %}

with

history as (

    select * from {{ ref('customer_risk_history') }}

),

tiers as (

    select
        'High' as risk_tier,
        1 as tier_order
    union all
    select
        'Medium' as risk_tier,
        2 as tier_order
    union all
    select
        'Low' as risk_tier,
        3 as tier_order

),

scored as (

    {% for segment_type, column in segments.items() %}
        select
            as_of_date,
            '{{ segment_type }}' as segment_type,
            coalesce(cast({{ column }} as {{ dbt.type_string() }}), 'unknown') as segment_value,
            risk_tier,
            customer_id,
            churn_probability,
            mrr,
            mrr_at_risk
        from history
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

segment_weeks as (

    select
        as_of_date,
        segment_type,
        segment_value,
        count(*) as segment_customers,
        avg(churn_probability) as segment_mean_probability,
        sum(mrr) as segment_mrr

    from scored
    group by as_of_date, segment_type, segment_value

),

per_tier as (

    select
        as_of_date,
        segment_type,
        segment_value,
        risk_tier,
        count(*) as customers,
        sum(mrr) as mrr,
        sum(mrr_at_risk) as mrr_at_risk,
        avg(churn_probability) as mean_probability

    from scored
    group by as_of_date, segment_type, segment_value, risk_tier

),

final as (

    select
        segment_weeks.as_of_date,
        segment_weeks.segment_type,
        segment_weeks.segment_value,
        tiers.risk_tier,
        tiers.tier_order,
        coalesce(per_tier.customers, 0) as customers,
        coalesce(per_tier.mrr, 0) as mrr,
        coalesce(per_tier.mrr_at_risk, 0) as mrr_at_risk,
        per_tier.mean_probability,
        coalesce(per_tier.customers, 0) * 1.0 / segment_weeks.segment_customers as share_of_customers,
        segment_weeks.segment_customers,
        segment_weeks.segment_mrr,
        segment_weeks.segment_mean_probability

    from segment_weeks
    cross join tiers
    left join per_tier
        on segment_weeks.as_of_date = per_tier.as_of_date
            and segment_weeks.segment_type = per_tier.segment_type
            and segment_weeks.segment_value = per_tier.segment_value
            and tiers.risk_tier = per_tier.risk_tier

)

select * from final
