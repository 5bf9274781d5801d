-- ticket versions with their validity, mapped to customers. incremental: a run recomputes
-- every version of the tickets with a version (or an organization) loaded since the last run,
-- since a new version ends the validity of the one before it
{{ incremental_by_customer_date(['ticket_id', 'valid_from'], none) }}

with

ticket_versions as (

    select * from {{ ref('stg_zendesk__ticket_versions') }}
    where is_valid

),

organizations as (

    select * from {{ ref('stg_zendesk__organizations') }}

),

history as (

    select
        ticket_versions.ticket_id,
        organizations.customer_id,
        ticket_versions.status,
        ticket_versions.is_resolved,
        -- an escalation stays an escalation once it happened
        max(case when ticket_versions.is_escalated then 1 else 0 end) over (
            partition by ticket_versions.ticket_id
            order by ticket_versions.valid_from
            rows between unbounded preceding and current row
        ) = 1 as is_escalated,
        ticket_versions.satisfaction_score,
        ticket_versions.created_at,
        cast(ticket_versions.created_at as date) as created_date,
        ticket_versions.valid_from,
        ticket_versions.valid_to,
        -- a row is new when its version or the organization it maps through is
        greatest(ticket_versions.loaded_at, organizations.loaded_at) as loaded_at

    from ticket_versions
    inner join organizations
        on ticket_versions.organization_id = organizations.organization_id
    where organizations.customer_id is not null

),

recomputed as (

    -- a full build writes every version, an incremental run the changed tickets' versions
    {{ rows_of_changed_keys('history', 'ticket_id') }}

)

select * from recomputed
