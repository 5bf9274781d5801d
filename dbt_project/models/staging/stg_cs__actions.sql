-- depends_on: {{ source('app', 'app_cs_actions') }}
{#- raw.app_cs_actions appears once the CS app has logged an action and ingestion has landed it
    (dlt creates no table for an empty store): read it when it exists. The var
    include_app_cs_actions forces it (true/false); `auto`, the default, checks the warehouse. -#}
{%- set app_mode = var('include_app_cs_actions', 'auto') | string | lower -%}
{%- if app_mode == 'auto' -%}
    {%- set include_app = relation_exists(source('app', 'app_cs_actions')) -%}
{%- else -%}
    {%- set include_app = app_mode in ['true', '1', 'yes'] -%}
{%- endif %}

with

unioned as (

    -- the CRM's actions and, when it has landed, the app's: the same columns in both
    {% for system in (['crm', 'app'] if include_app else ['crm']) %}
        select
            '{{ system }}' as source_system,
            action_id,
            customer_id,
            action_type,
            {{ dbt.safe_cast('action_at', dbt.type_timestamp()) }} as action_at,
            performed_by,
            outcome,
            note,
            _loaded_at as loaded_at

        from {{ source(system, system ~ '_cs_actions') }}
        {% if not loop.last %}
            union all
        {% endif %}
    {% endfor %}

),

renamed as (

    select
        source_system,
        cast(action_id as {{ dbt.type_string() }}) as action_id,
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        lower(action_type) as action_type,
        action_at,
        performed_by,
        lower(outcome) as outcome,
        note,
        loaded_at

    from unioned

),

deduplicated as (

    select
        *,
        row_number() over (
            partition by action_id
            order by loaded_at asc, source_system asc
        ) as delivery_rank

    from renamed
    where action_id is not null

),

flagged as (

    select
        ---------- ids
        action_id,
        customer_id,
        source_system,

        ---------- attributes
        action_type,
        performed_by,
        outcome,
        note,

        ---------- dates
        action_at,
        cast(action_at as date) as action_date,

        ---------- quality
        case
            when customer_id is null then 'missing customer_id'
            when action_at is null then 'malformed action_at'
            {{ time_guard_reasons('action_at', label='action_at') }}
            when action_type not in ('contacted', 'offer_made') then 'unknown action_type'
        end as invalid_reason,
        loaded_at

    from deduplicated
    where delivery_rank = 1

)

select
    *,
    invalid_reason is null as is_valid
from flagged
