-- the customer-week spine. incremental: a run adds the new weeks for every customer and
-- recomputes every week of the customers that are new, whose signup day changed or whose
-- cancellation arrived since the last run; a late cancellation deletes the customer's later
-- weeks (post-hook).
{{ incremental_by_customer_date(
    ['customer_id', 'as_of_date'], 'as_of_date', 'day', churn_dates_from='int_customer_churn_dates'
) }}
{%- set incremental = incremental_branch() %}

with

data_range as (

    select * from {{ ref('int_data_range') }}

),

customers as (

    select * from {{ ref('stg_crm__customers') }}

),

churn_dates as (

    select * from {{ ref('int_customer_churn_dates') }}

),

watermark as (

    {{ inputs_watermark([('customers', 'loaded_at'), ('churn_dates', 'loaded_at'), ('data_range', 'loaded_at')]) }}

),

week_numbers as (

    {{ dbt.generate_series(1000) }}

),

weeks as (

    select
        {{ add_days('data_range.first_as_of_date', '7 * (week_numbers.generated_number - 1)') }} as as_of_date

    from data_range
    cross join week_numbers

),

{% if incremental %}
    stored_signups as (

        -- the signup day the spine holds for the customers whose CRM record arrived since:
        -- a record re-delivered or updated with the same signup day changes none of its weeks
        select
            computed.customer_id,
            max(computed.signup_date) as signup_date

        from {{ this }} as computed
        where computed.customer_id in (
            select customers.customer_id from customers
            where customers.loaded_at > {{ last_run_watermark() }}
        )
        group by computed.customer_id

    ),

    changed_customers as (

        -- new customers (no weeks yet), changed signup days, and every cancellation that
        -- arrived since
        select customers.customer_id
        from customers
        left join stored_signups
            on customers.customer_id = stored_signups.customer_id
        where
            customers.loaded_at > {{ last_run_watermark() }}
            and (
                stored_signups.customer_id is null
                or stored_signups.signup_date is distinct from customers.signup_date
            )
        union distinct
        select churn_dates.customer_id from churn_dates
        where churn_dates.loaded_at > {{ last_run_watermark() }}

    ),
{% endif %}

spine as (

    select
        customers.customer_id,
        weeks.as_of_date,
        customers.signup_date,
        churn_dates.churn_date,
        watermark.inputs_loaded_at

    from weeks
    inner join data_range
        on weeks.as_of_date <= data_range.last_possible_as_of_date
    inner join customers
        on weeks.as_of_date > customers.signup_date
    cross join watermark
    left join churn_dates
        on customers.customer_id = churn_dates.customer_id
    -- active at D: signed up before D and not cancelled before D
    where
        churn_dates.churn_date is null
        or churn_dates.churn_date >= weeks.as_of_date

),

recomputed as (

    -- a full build writes every row, an incremental run the new weeks and changed customers
    select spine.*

    from spine
    {% if incremental %}
        left join changed_customers
            on spine.customer_id = changed_customers.customer_id
        where
            changed_customers.customer_id is not null
            or spine.as_of_date > (
                select coalesce(max(computed.as_of_date), cast('1900-01-01' as date))
                from {{ this }} as computed
            )
    {% endif %}

),

stamped as (

    -- added_loaded_at: when the snapshot entered the spine, kept when the row is recomputed
    -- (a cancellation changes churn_date, not which snapshots exist): the feature models
    -- compute a snapshot once it is added, the label follows inputs_loaded_at
    select
        recomputed.*,
        {% if incremental %}
            coalesce(existing.added_loaded_at, recomputed.inputs_loaded_at)
        {% else %}
            recomputed.inputs_loaded_at
        {% endif %} as added_loaded_at

    from recomputed
    {% if incremental %}
        left join {{ this }} as existing
            on
                recomputed.customer_id = existing.customer_id
                and recomputed.as_of_date = existing.as_of_date
    {% endif %}

)

select * from stamped
