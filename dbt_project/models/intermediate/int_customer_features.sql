-- one row per active customer per weekly as_of_date (a Monday); every feature of D uses only
-- source rows dated strictly before D. features.customer_features and features.training_set
-- are views of this table (without its bookkeeping column).
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
        usage_windows.logins_7d,
        usage_windows.logins_30d,
        usage_windows.logins_prev_30d,
        usage_windows.logins_90d,
        usage_windows.days_since_last_login,
        usage_windows.events_7d,
        usage_windows.events_30d,
        usage_windows.active_days_30d,
        usage_windows.feature_uses_30d,
        usage_windows.exports_30d,
        usage_windows.integration_syncs_30d,
        coalesce(usage_distinct.distinct_features_30d, 0) as distinct_features_30d,
        coalesce(usage_distinct.active_users_30d, 0) as active_users_30d,
        coalesce(tickets.tickets_90d, 0) as tickets_90d,
        coalesce(tickets.escalated_tickets_90d, 0) as escalated_tickets_90d,
        coalesce(tickets.bad_satisfaction_90d, 0) as bad_satisfaction_90d,
        coalesce(tickets.open_tickets, 0) as open_tickets,
        coalesce(tickets.oldest_open_ticket_days, 0) as oldest_open_ticket_days,
        billing.mrr,
        billing.mrr_90d_before,
        billing.failed_payments_90d,
        billing.last_failed_payment_date,
        billing.has_discount,
        billing.current_period_end_date,
        coalesce(billing.plan, crm.plan) as plan,
        coalesce(billing.seats, crm.seats) as seats,
        crm.contract_type,
        crm.industry,
        crm.country,
        coalesce(cs_actions.cs_contacts_90d, 0) as cs_contacts_90d,
        coalesce(cs_actions.cs_offers_90d, 0) as cs_offers_90d,
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

    select
        ---------- keys
        cast(customer_id as {{ string }}) as customer_id,
        cast(as_of_date as date) as as_of_date,

        ---------- usage
        cast(logins_7d as {{ bigint }}) as logins_7d,
        cast(logins_30d as {{ bigint }}) as logins_30d,
        cast(logins_90d as {{ bigint }}) as logins_90d,
        cast(events_7d as {{ bigint }}) as events_7d,
        cast(events_30d as {{ bigint }}) as events_30d,
        cast(active_days_30d as {{ bigint }}) as active_days_30d,
        cast(feature_uses_30d as {{ bigint }}) as feature_uses_30d,
        cast(exports_30d as {{ bigint }}) as exports_30d,
        cast(integration_syncs_30d as {{ bigint }}) as integration_syncs_30d,
        cast(distinct_features_30d as {{ bigint }}) as distinct_features_30d,
        cast(active_users_30d as {{ bigint }}) as active_users_30d,
        cast(active_users_30d as {{ float }}) / nullif(seats, 0) as seat_utilisation,
        cast(logins_30d - logins_prev_30d as {{ float }})
        / nullif(logins_prev_30d, 0) as logins_30d_change_pct,
        cast(events_7d as {{ float }})
        / nullif(events_30d / 30.0 * 7, 0) as events_7d_vs_30d_ratio,
        cast(days_since_last_login as {{ bigint }}) as days_since_last_login,

        ---------- support
        cast(tickets_90d as {{ bigint }}) as tickets_90d,
        cast(escalated_tickets_90d as {{ bigint }}) as escalated_tickets_90d,
        cast(bad_satisfaction_90d as {{ bigint }}) as bad_satisfaction_90d,
        cast(open_tickets as {{ bigint }}) as open_tickets,
        cast(oldest_open_ticket_days as {{ bigint }}) as oldest_open_ticket_days,

        ---------- billing
        cast(mrr as {{ float }}) as mrr,
        cast(mrr - mrr_90d_before as {{ float }}) / nullif(mrr_90d_before, 0) as mrr_change_90d_pct,
        cast(coalesce(failed_payments_90d, 0) as {{ bigint }}) as failed_payments_90d,
        cast(
            {{ dbt.datediff('last_failed_payment_date', 'as_of_date', 'day') }} as {{ bigint }}
        ) as days_since_last_failed_payment,
        coalesce(has_discount, false) as has_discount,

        ---------- account
        cast(plan as {{ string }}) as plan,
        cast(contract_type as {{ string }}) as contract_type,
        cast(industry as {{ string }}) as industry,
        cast(country as {{ string }}) as country,
        cast(seats as {{ bigint }}) as seats,
        cast(
            {{ dbt.datediff('signup_date', 'as_of_date', 'day') }} as {{ bigint }}
        ) as tenure_days,
        cast(
            {{ dbt.datediff('as_of_date', 'current_period_end_date', 'day') }} as {{ bigint }}
        ) as days_to_renewal,

        ---------- customer success
        cast(cs_contacts_90d as {{ bigint }}) as cs_contacts_90d,
        cast(cs_offers_90d as {{ bigint }}) as cs_offers_90d,
        cast(
            {{ dbt.datediff('last_cs_action_date', 'as_of_date', 'day') }} as {{ bigint }}
        ) as days_since_last_cs_contact,

        ---------- not features: the label's input and the incremental bookkeeping
        churn_date,
        inputs_loaded_at

    from joined

)

select * from features
