-- one row per active customer per weekly as_of_date (a Monday); every feature of D uses only
-- source rows dated strictly before D. features.customer_features and features.training_set
-- are views of this table (without its bookkeeping column). Its features are the columns
-- declared `feature: true` in the YAML of the models computing them, upstream or here
-- (docs/contracts.md §3.1): a feature computed upstream reaches this table with no edit here.
-- incremental: a run recomputes the spine rows added or changed since the last run and the
-- snapshots any upstream model recomputed since; the rest stay.
{{ incremental_by_customer_date(
    ['customer_id', 'as_of_date'], 'as_of_date', 'day', churn_dates_from='int_customer_churn_dates'
) }}
{%- set incremental = incremental_branch() %}
{%- set upstream_snapshots = [
    'int_usage_windows', 'int_usage_distinct_30d', 'int_tickets_as_of',
    'int_billing_as_of', 'int_cs_actions_as_of', 'int_crm_attributes_as_of',
] %}
{#- the CTE below that reads each upstream model: every column its YAML declares a feature
    (`feature: true`, macros/feature_columns.sql) is selected from there, with its `fill` -#}
{%- set feature_ctes = {
    'int_usage_windows': 'usage_windows', 'int_usage_distinct_30d': 'usage_distinct',
    'int_tickets_as_of': 'tickets', 'int_billing_as_of': 'billing',
    'int_cs_actions_as_of': 'cs_actions', 'int_crm_attributes_as_of': 'crm',
} %}
{#- every declared feature, in the order of this model's YAML (kept by `churn features sync`) -#}
{%- set features = declared_features(joined=feature_ctes) %}
{%- set upstream_stamps = [] %}
{%- for model in upstream_snapshots %}
    {%- do upstream_stamps.append((ref(model), 'inputs_loaded_at')) %}
{%- endfor %}

{%- set bigint = dbt.type_bigint() -%}
{%- set float = dbt.type_float() -%}
{%- set string = dbt.type_string() %}

with

spine as (

    select
        customer_id,
        as_of_date,
        signup_date,
        churn_date,
        inputs_loaded_at as spine_loaded_at
    from {{ ref('int_customer_weeks') }}

),

watermark as (

    {{ inputs_watermark([(ref('int_customer_weeks'), 'inputs_loaded_at')] + upstream_stamps) }}

),

targets as (

    -- a full build computes every spine row, an incremental run only those that may change
    select
        spine.customer_id,
        spine.as_of_date,
        spine.signup_date,
        spine.churn_date

    from spine
    {% if incremental %}
        -- the upstream tables are read here by ref(), not through their import CTEs: DuckDB
        -- materializes a CTE read more than once in full
        left join (
            {%- for model in upstream_snapshots %}
            select
                customer_id,
                as_of_date
            from {{ ref(model) }}
            where inputs_loaded_at > {{ last_run_watermark() }}
            {%- if not loop.last %}
            union distinct
            {%- endif %}
            {%- endfor %}
        ) as recomputed
            on
                spine.customer_id = recomputed.customer_id
                and spine.as_of_date = recomputed.as_of_date
        where
            spine.spine_loaded_at > {{ last_run_watermark() }}
            or recomputed.customer_id is not null
    {% endif %}

),

usage_windows as (

    {{ rows_for_targets('int_usage_windows') }}

),

usage_distinct as (

    {{ rows_for_targets('int_usage_distinct_30d') }}

),

tickets as (

    {{ rows_for_targets('int_tickets_as_of') }}

),

billing as (

    {{ rows_for_targets('int_billing_as_of') }}

),

cs_actions as (

    {{ rows_for_targets('int_cs_actions_as_of') }}

),

crm as (

    {{ rows_for_targets('int_crm_attributes_as_of') }}

),

joined as (

    select
        spine.customer_id,
        spine.as_of_date,
        spine.signup_date,
        spine.churn_date,

        ---------- the features the upstream models declare, filled where they say so
        {%- for feature in features if feature.model in feature_ctes %}
            {{ filled_feature(feature, feature_ctes[feature.model]) }} as {{ feature.name }},
        {%- endfor %}

        ---------- inputs of the features computed below
        usage_windows.logins_prev_30d,
        billing.mrr_90d_before,
        billing.last_failed_payment_date,
        billing.current_period_end_date,
        coalesce(billing.plan, crm.plan) as plan,
        coalesce(billing.seats, crm.seats) as seats,
        cs_actions.last_cs_action_date,
        watermark.inputs_loaded_at

    from targets as spine
    cross join watermark
    left join usage_windows
        on spine.customer_id = usage_windows.customer_id
            and spine.as_of_date = usage_windows.as_of_date
    left join usage_distinct
        on spine.customer_id = usage_distinct.customer_id
            and spine.as_of_date = usage_distinct.as_of_date
    left join tickets
        on spine.customer_id = tickets.customer_id
            and spine.as_of_date = tickets.as_of_date
    left join billing
        on spine.customer_id = billing.customer_id
            and spine.as_of_date = billing.as_of_date
    left join cs_actions
        on spine.customer_id = cs_actions.customer_id
            and spine.as_of_date = cs_actions.as_of_date
    left join crm
        on spine.customer_id = crm.customer_id
            and spine.as_of_date = crm.as_of_date

),

features as (

    -- a feature computed here reaches the features tables once this model's YAML declares it
    select
        ---------- keys
        cast(customer_id as {{ string }}) as customer_id,
        cast(as_of_date as date) as as_of_date,

        ---------- declared upstream
        {%- for feature in features if feature.model in feature_ctes %}
            {{ feature.name }},
        {%- endfor %}

        ---------- usage
        cast(active_users_30d as {{ float }}) / nullif(seats, 0) as seat_utilisation,
        cast(logins_30d - logins_prev_30d as {{ float }})
        / nullif(logins_prev_30d, 0) as logins_30d_change_pct,
        cast(events_7d as {{ float }})
        / nullif(events_30d / 30.0 * 7, 0) as events_7d_vs_30d_ratio,

        ---------- billing
        cast(mrr - mrr_90d_before as {{ float }}) / nullif(mrr_90d_before, 0) as mrr_change_90d_pct,
        cast(
            {{ dbt.datediff('last_failed_payment_date', 'as_of_date', 'day') }} as {{ bigint }}
        ) as days_since_last_failed_payment,

        ---------- account
        cast(plan as {{ string }}) as plan,
        cast(seats as {{ bigint }}) as seats,
        cast(
            {{ dbt.datediff('signup_date', 'as_of_date', 'day') }} as {{ bigint }}
        ) as tenure_days,
        cast(
            {{ dbt.datediff('as_of_date', 'current_period_end_date', 'day') }} as {{ bigint }}
        ) as days_to_renewal,

        ---------- customer success
        cast(
            {{ dbt.datediff('last_cs_action_date', 'as_of_date', 'day') }} as {{ bigint }}
        ) as days_since_last_cs_contact,

        ---------- not features: the label's input and the incremental bookkeeping
        churn_date,
        inputs_loaded_at

    from joined

),

ordered as (

    -- the features in the order of the features tables (this model's YAML); a model trained
    -- on them keeps the schema it learned
    select
        customer_id,
        as_of_date,
        {%- for feature in features %}
            {{ feature.name }},
        {%- endfor %}
        churn_date,
        inputs_loaded_at

    from features

)

select * from ordered
