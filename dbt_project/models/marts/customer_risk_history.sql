-- one row per customer per scored week: the score of the latest batch for that week, the
-- previous scored week's score, and the activity behind it (from the features snapshot)

{%- set string = dbt.type_string() -%}
{%- set float = dbt.type_float() %}

with

predictions as (

    select *
    from {{ source_or_empty('ml', 'churn_predictions', {
        'customer_id': string,
        'as_of_date': 'date',
        'model_name': string,
        'model_version': string,
        'churn_probability': float,
        'risk_tier': string,
        'risk_rank': dbt.type_bigint(),
        'driver_1': string,
        'driver_2': string,
        'driver_3': string,
        'run_id': string,
        'scored_at': dbt.type_timestamp(),
    }) }}

),

features as (

    select * from {{ ref('customer_features') }}

),

customers as (

    select * from {{ ref('stg_crm__customers') }}

),

---------- a week rescored (a new champion, a rerun) keeps only its latest batch
latest_batch as (

    select
        *,
        row_number() over (
            partition by customer_id, as_of_date
            order by scored_at desc, model_version desc
        ) as batch_rank

    from predictions

),

scores as (

    select
        customer_id,
        cast(as_of_date as date) as as_of_date,
        model_name,
        model_version,
        churn_probability,
        risk_tier,
        risk_rank,
        driver_1,
        driver_2,
        driver_3,
        scored_at

    from latest_batch
    where batch_rank = 1

),

with_previous as (

    select
        *,
        lag(as_of_date) over (partition by customer_id order by as_of_date) as previous_as_of_date,
        lag(churn_probability) over (
            partition by customer_id order by as_of_date
        ) as previous_probability,
        lag(risk_tier) over (partition by customer_id order by as_of_date) as previous_tier

    from scores

),

joined as (

    select
        ---------- ids
        with_previous.customer_id,
        with_previous.as_of_date,
        customers.company_name,
        customers.account_owner,

        ---------- segment
        features.plan,
        coalesce(features.industry, 'unknown') as industry,
        features.contract_type,
        features.country,

        ---------- score
        with_previous.model_name,
        with_previous.model_version,
        with_previous.churn_probability,
        with_previous.risk_tier,
        with_previous.risk_rank,
        with_previous.driver_1,
        with_previous.driver_2,
        with_previous.driver_3,
        with_previous.previous_as_of_date,
        with_previous.previous_probability,
        with_previous.previous_tier,
        with_previous.churn_probability - with_previous.previous_probability as probability_change,

        ---------- money
        coalesce(features.mrr, 0) as mrr,
        coalesce(features.mrr, 0) * with_previous.churn_probability as mrr_at_risk,

        ---------- activity behind the score
        features.logins_7d,
        features.logins_30d,
        features.events_7d,
        features.active_users_30d,
        features.seat_utilisation,
        features.days_since_last_login,
        features.tickets_90d,
        features.open_tickets,
        features.failed_payments_90d,
        features.cs_contacts_90d,
        features.days_since_last_cs_contact,
        features.days_to_renewal,
        with_previous.scored_at

    from with_previous
    left join features
        on with_previous.customer_id = features.customer_id
            and with_previous.as_of_date = features.as_of_date
    left join customers
        on with_previous.customer_id = customers.customer_id

)

select * from joined
