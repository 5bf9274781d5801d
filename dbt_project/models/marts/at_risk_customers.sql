-- the CS manager's list: every active customer's latest score, what changed since the previous
-- scored week, why, who owns the account, the money at stake, since when a High customer has
-- been High and the last CS contact; the control group of the holdout is left out while its
-- High episode is open

with

history as (

    select * from {{ ref('customer_risk_history') }}

),

churn_dates as (

    select * from {{ ref('int_customer_churn_dates') }}

),

actions as (

    select * from {{ ref('int_cs_action_facts') }}

),

episodes as (

    select * from {{ ref('high_risk_episodes') }}

),

held_out as (

    select distinct customer_id
    from episodes
    where holdout_group = 'control' and is_open

),

---------- a customer High in the latest week is in an open episode: since when
open_episodes as (

    select
        customer_id,
        episode_start as high_since

    from episodes
    where is_open

),

latest_week as (

    select max(as_of_date) as as_of_date
    from history

),

---------- customers who cancelled after their score are no longer at risk: they are gone
latest as (

    select history.*

    from history
    inner join latest_week
        on history.as_of_date = latest_week.as_of_date
    left join churn_dates
        on history.customer_id = churn_dates.customer_id
    left join held_out
        on history.customer_id = held_out.customer_id
    where churn_dates.customer_id is null and held_out.customer_id is null

),

last_contact as (

    select
        customer_id,
        action_at as last_cs_contact_at,
        action_type as last_cs_action_type,
        outcome as last_cs_outcome,
        row_number() over (
            partition by customer_id order by action_at desc, action_id desc
        ) as recency

    from actions

),

final as (

    select
        latest.*,
        case when latest.risk_tier = 'High' then open_episodes.high_since end as high_since,
        last_contact.last_cs_contact_at,
        last_contact.last_cs_action_type,
        last_contact.last_cs_outcome

    from latest
    left join open_episodes
        on latest.customer_id = open_episodes.customer_id
    left join last_contact
        on latest.customer_id = last_contact.customer_id
            and last_contact.recency = 1

)

select * from final
