{#- Cross-database helpers. Models call these (or dbt's own dbt.* macros) instead of dialect SQL. -#}

{#- dbt.safe_cast is a plain cast on DuckDB; found first through the project's dispatch config -#}
{% macro duckdb__safe_cast(field, type) -%}
    try_cast({{ field }} as {{ type }})
{%- endmacro %}

{#- a double-precision float: 'double' on DuckDB, float64 on BigQuery -#}
{% macro duckdb__type_float() -%}
    double
{%- endmacro %}

{#- a JSON scalar at `path` ('$.object.id') as a string -#}
{% macro json_extract_string(column, path) -%}
    {{ return(adapter.dispatch('json_extract_string', 'churn')(column, path)) }}
{%- endmacro %}

{% macro default__json_extract_string(column, path) -%}
    json_extract_string({{ column }}, '{{ path }}')
{%- endmacro %}

{% macro bigquery__json_extract_string(column, path) -%}
    json_value({{ column }}, '{{ path }}')
{%- endmacro %}

{#- true when the JSON array `column` contains the string `value` -#}
{% macro json_array_contains_string(column, value) -%}
    {{ return(adapter.dispatch('json_array_contains_string', 'churn')(column, value)) }}
{%- endmacro %}

{% macro default__json_array_contains_string(column, value) -%}
    coalesce(list_contains(cast(json_extract_string({{ column }}, '$[*]') as varchar[]), '{{ value }}'), false)
{%- endmacro %}

{% macro bigquery__json_array_contains_string(column, value) -%}
    coalesce('{{ value }}' in unnest(json_value_array({{ column }})), false)
{%- endmacro %}

{#- unix seconds (integer) to a timestamp (UTC) -#}
{% macro timestamp_from_unix_seconds(column) -%}
    {{ return(adapter.dispatch('timestamp_from_unix_seconds', 'churn')(column)) }}
{%- endmacro %}

{% macro default__timestamp_from_unix_seconds(column) -%}
    make_timestamp(cast({{ column }} as bigint) * 1000000)
{%- endmacro %}

{% macro bigquery__timestamp_from_unix_seconds(column) -%}
    timestamp_seconds(cast({{ column }} as int64))
{%- endmacro %}

{#- the Monday on or before a date, as a date -#}
{% macro week_start(date_expr) -%}
    {{ return(adapter.dispatch('week_start', 'churn')(date_expr)) }}
{%- endmacro %}

{% macro default__week_start(date_expr) -%}
    cast({{ dbt.date_trunc('week', date_expr) }} as date)
{%- endmacro %}

{% macro bigquery__week_start(date_expr) -%}
    date_trunc(cast({{ date_expr }} as date), isoweek)
{%- endmacro %}

{#- a date shifted by n days, as a date (dbt.dateadd returns a datetime on BigQuery) -#}
{% macro add_days(date_expr, n) -%}
    cast({{ dbt.dateadd('day', n, date_expr) }} as date)
{%- endmacro %}

{#- whole days since 1970-01-01: an integer to order RANGE window frames by -#}
{% macro day_number(date_expr) -%}
    {{ dbt.datediff("cast('1970-01-01' as date)", date_expr, 'day') }}
{%- endmacro %}

{#- a field of a Stripe event's object (`data.object.<path>`), optionally cast to `type` -#}
{% macro stripe_field(path, type=none) -%}
    {%- set value = json_extract_string('event_data', '$.object.' ~ path) -%}
    {%- if type is none -%}
        {{ value }}
    {%- else -%}
        {{ dbt.safe_cast(value, type) }}
    {%- endif -%}
{%- endmacro %}

{#- a unix-seconds field of a Stripe event's object, as a timestamp -#}
{% macro stripe_timestamp_field(path) -%}
    {{ timestamp_from_unix_seconds(stripe_field(path, dbt.type_bigint())) }}
{%- endmacro %}

{#- true when no row of `relation` has `relation_key` = `key_expr` (an anti-join condition) -#}
{% macro key_not_in(relation, relation_key, key_expr) -%}
    not exists (
        select 1 from {{ relation }} as existing_rows
        where existing_rows.{{ relation_key }} = {{ key_expr }}
    )
{%- endmacro %}


{#- an ISO 8601 timestamp string (`2024-11-05T08:00:00Z`) as a timestamp, else null. Casting
    alone is not enough: DuckDB's try_cast also reads `2024/03/04 09:12`, BigQuery's does not -#}
{% macro safe_iso_timestamp(column) -%}
    case
        when substr({{ column }}, 5, 1) = '-' and substr({{ column }}, 8, 1) = '-'
            then {{ dbt.safe_cast(column, dbt.type_timestamp()) }}
    end
{%- endmacro %}
