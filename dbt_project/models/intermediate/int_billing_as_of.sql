-- subscription state and payments per snapshot, from events before D
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

subscriptions as (

    select * from {{ ref('int_subscription_history') }}

),

payments as (

    select * from {{ ref('int_invoice_payments') }}
    where is_payment_failure

),

{{ snapshot_targets([
    (ref('int_subscription_history'), 'cast(valid_from as date)'),
    (ref('int_invoice_payments'), 'event_date', 'is_payment_failure'),
]) }},

subscription_at_d as (

    select
        spine.customer_id,
        spine.as_of_date,
        subscriptions.status,
        subscriptions.plan,
        subscriptions.seats,
        subscriptions.mrr,
        subscriptions.has_discount,
        subscriptions.current_period_end

    from targets as spine
    inner join subscriptions
        on spine.customer_id = subscriptions.customer_id
            and cast(subscriptions.valid_from as date) < spine.as_of_date
            and (
                subscriptions.valid_to is null
                or cast(subscriptions.valid_to as date) >= spine.as_of_date
            )

),

subscription_90d_before as (

    select
        spine.customer_id,
        spine.as_of_date,
        subscriptions.mrr

    from targets as spine
    inner join subscriptions
        on spine.customer_id = subscriptions.customer_id
            and cast(subscriptions.valid_from as date) < {{ add_days('spine.as_of_date', -90) }}
            and (
                subscriptions.valid_to is null
                or cast(subscriptions.valid_to as date) >= {{ add_days('spine.as_of_date', -90) }}
            )

),

failed_payments as (

    select
        spine.customer_id,
        spine.as_of_date,
        sum(case
            when payments.event_date >= {{ add_days('spine.as_of_date', -90) }} then 1 else 0
        end) as failed_payments_90d,
        max(payments.event_date) as last_failed_payment_date

    from targets as spine
    inner join payments
        on spine.customer_id = payments.customer_id
            and spine.as_of_date > payments.event_date
    group by spine.customer_id, spine.as_of_date

),

joined as (

    select
        spine.customer_id,
        spine.as_of_date,
        subscription_at_d.status as subscription_status,
        subscription_at_d.plan,
        subscription_at_d.seats,
        subscription_at_d.mrr,
        subscription_90d_before.mrr as mrr_90d_before,
        subscription_at_d.has_discount,
        cast(subscription_at_d.current_period_end as date) as current_period_end_date,
        cast(coalesce(failed_payments.failed_payments_90d, 0) as {{ dbt.type_bigint() }})
            as failed_payments_90d,
        failed_payments.last_failed_payment_date

    from targets as spine
    left join subscription_at_d
        on spine.customer_id = subscription_at_d.customer_id
            and spine.as_of_date = subscription_at_d.as_of_date
    left join subscription_90d_before
        on spine.customer_id = subscription_90d_before.customer_id
            and spine.as_of_date = subscription_90d_before.as_of_date
    left join failed_payments
        on spine.customer_id = failed_payments.customer_id
            and spine.as_of_date = failed_payments.as_of_date

)

select
    joined.*,
    watermark.inputs_loaded_at
from joined
cross join watermark
