{#- Sources written by Python jobs (ml.*, monitoring.*, the CS app's actions) do not exist until
    that job has run once. These helpers let a model read such a source when it is there and an
    empty, typed relation when it is not, so `dbt build` passes on a fresh warehouse while the
    lineage (`source()` is always called) stays in the manifest. -#}

{#- true when the relation exists in the warehouse; true at parse time and under
    `--no-introspect` (offline compile), so the full SQL is always rendered there -#}
{% macro relation_exists(relation) -%}
    {%- if not execute or not flags.INTROSPECT -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set found = adapter.get_relation(
        database=relation.database, schema=relation.schema, identifier=relation.identifier
    ) -%}
    {{ return(found is not none) }}
{%- endmacro %}

{#- the source relation, or a zero-row select with `columns` ({name: type}) when it is missing -#}
{% macro source_or_empty(source_name, table_name, columns) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if relation_exists(relation) -%}
        {{ relation }}
    {%- else -%}
        (
            select
                {%- for name, type in columns.items() %}
                    cast(null as {{ type }}) as {{ name }}{{ "," if not loop.last }}
                {%- endfor %}
            from (select 1 as placeholder) as no_rows
            where 1 = 0
        )
    {%- endif -%}
{%- endmacro %}
