with

source as (

    select * from {{ source('zendesk', 'zendesk_tickets') }}

),

renamed as (

    select
        ---------- ids
        cast(id as {{ dbt.type_bigint() }}) as ticket_id,
        cast(organization_id as {{ dbt.type_bigint() }}) as organization_id,
        cast(requester_id as {{ dbt.type_bigint() }}) as requester_id,

        ---------- attributes
        subject,
        lower(status) as status,
        lower(priority) as priority,
        lower(type) as ticket_type,
        {{ json_array_contains_string('tags', 'escalated') }} as is_escalated,
        lower({{ json_extract_string('satisfaction_rating', '$.score') }}) as satisfaction_score,

        ---------- dates
        {{ dbt.safe_cast('created_at', dbt.type_timestamp()) }} as created_at,
        {{ dbt.safe_cast('updated_at', dbt.type_timestamp()) }} as updated_at,
        _loaded_at as loaded_at

    from source

),

deduplicated as (

    select
        *,
        row_number() over (
            partition by ticket_id, updated_at
            order by loaded_at
        ) as delivery_rank

    from renamed
    where ticket_id is not null

),

checked as (

    select
        *,
        case
            when created_at is null then 'malformed created_at'
            when updated_at is null then 'malformed updated_at'
            {{ time_guard_reasons('created_at', label='created_at') }}
            {{ time_guard_reasons('updated_at', label='updated_at') }}
            when organization_id is null then 'missing organization_id'
        end as invalid_reason,
        case
            {{ time_guard_reasons('updated_at', label='updated_at') }}
        end as updated_at_outside

    from deduplicated
    where delivery_rank = 1

),

versioned as (

    -- versions chain only through updates dated inside the time window (the partition keeps
    -- the others apart): an update stamped 2099 must not end the version before it, and has
    -- no valid_to of its own
    select
        ticket_id,
        organization_id,
        requester_id,
        subject,
        status,
        priority,
        ticket_type,
        is_escalated,
        satisfaction_score,
        created_at,
        updated_at as valid_from,
        case
            when updated_at_outside is null
                then lead(updated_at) over (
                        partition by ticket_id, updated_at_outside is null order by updated_at
                    )
        end as valid_to,
        status in ('solved', 'closed') as is_resolved,
        invalid_reason,
        loaded_at

    from checked

)

select
    *,
    invalid_reason is null as is_valid
from versioned
