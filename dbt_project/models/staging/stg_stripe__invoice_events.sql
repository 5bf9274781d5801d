-- incremental: stg_stripe__events only ever adds events, so a run extracts the invoice events
-- staged since the last run
{{ config(materialized='incremental', on_schema_change='append_new_columns') }}
{%- set incremental = incremental_branch() %}

with

events as (

    select * from {{ ref('stg_stripe__events') }}
    where
        is_valid
        and event_type in ('invoice.paid', 'invoice.payment_failed')

),

new_events as (

    -- a full build extracts every event, an incremental run those staged since the last run
    select * from events
    {% if incremental %}
        where loaded_at > {{ last_loaded_at() }}
    {% endif %}

),

extracted as (

    select
        ---------- ids
        event_id,
        {{ stripe_field('id') }} as invoice_id,
        {{ stripe_field('customer') }} as stripe_customer_id,
        {{ stripe_field('subscription') }} as subscription_id,

        ---------- event
        event_type,
        event_type = 'invoice.payment_failed' as is_payment_failure,
        created_at as event_at,
        created_date as event_date,
        loaded_at,

        ---------- invoice
        lower({{ stripe_field('status') }}) as invoice_status,
        lower({{ stripe_field('currency') }}) as currency,
        {{ stripe_field('amount_due', dbt.type_bigint()) }} / 100.0 as amount_due,
        {{ stripe_field('amount_paid', dbt.type_bigint()) }} / 100.0 as amount_paid,
        {{ stripe_field('attempt_count', dbt.type_int()) }} as attempt_count

    from new_events

)

select * from extracted
