{#-
    Generic test: the combination of `combination_of_columns` is unique in the model.
    Fails with one row per duplicated key; every row names the model, the key columns and the
    key value in `failure_detail`, so the stored failures (and `report_test_failures`) show a
    sample key, not only a count.
-#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

{%- set model_name = model.identifier if model.identifier is defined else model | string -%}
{%- set key_parts = [] -%}
{%- for column in combination_of_columns -%}
    {%- do key_parts.append("coalesce(" ~ dbt.safe_cast(column, dbt.type_string()) ~ ", 'null')") -%}
    {%- if not loop.last -%}{%- do key_parts.append("'|'") -%}{%- endif -%}
{%- endfor %}

with keyed as (

    select {{ dbt.concat(key_parts) }} as key_value
    from {{ model }}

),

duplicated as (

    select
        key_value,
        count(*) as n_rows
    from keyed
    group by key_value
    having count(*) > 1

)

select
    '{{ model_name }}' as model_name,
    '{{ combination_of_columns | join(", ") }}' as column_names,
    key_value,
    n_rows,
    {{ dbt.concat([
        "'duplicate key in " ~ model_name ~ " (" ~ (combination_of_columns | join(', ')) ~ ") = '",
        "key_value",
    ]) }} as failure_detail
from duplicated

{% endtest %}
