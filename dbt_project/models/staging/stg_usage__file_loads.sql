-- every read of a usage file: new, appended to, or rewritten with different content. The table
-- appears with ingestion's first load of a file, so a missing one reads as empty.
{%- set columns = {
    'source_file': dbt.type_string(),
    'change': dbt.type_string(),
    'first_byte': dbt.type_bigint(),
    'last_byte': dbt.type_bigint(),
    'sha256': dbt.type_string(),
    'rows_landed': dbt.type_bigint(),
    '_loaded_at': dbt.type_timestamp(),
} %}

with

file_loads as (

    select
        source_file,
        change,
        first_byte,
        last_byte,
        sha256,
        rows_landed,
        _loaded_at as loaded_at
    from {{ source_or_empty('usage', 'usage_file_loads', columns) }} as loads

)

select * from file_loads
