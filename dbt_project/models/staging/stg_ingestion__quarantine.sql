-- the records ingestion could not land in their table (a key or type it could not read, an
-- unreadable page), from every source that quarantines: one place to look. A source's
-- quarantine table appears with its first record, so a missing one reads as empty.
{%- set columns = {
    'resource': dbt.type_string(),
    'page': dbt.type_string(),
    'position': dbt.type_bigint(),
    'reason': dbt.type_string(),
    'record': dbt.type_string(),
    'record_sha256': dbt.type_string(),
    '_loaded_at': dbt.type_timestamp(),
} %}

with

unioned as (

    {% for source_name in ['zendesk', 'stripe'] %}
        select
            '{{ source_name }}' as source_name,
            resource,
            page,
            position,
            reason,
            record,
            record_sha256,
            _loaded_at as loaded_at
        from {{ source_or_empty(source_name, source_name ~ '_quarantine', columns) }} as quarantined
        {% if not loop.last %}
            union all
        {% endif %}
    {% endfor %}

)

select * from unioned
