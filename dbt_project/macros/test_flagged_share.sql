{#- Generic test: the share of a staging model's rows that are flagged (`is_valid` false).
    It returns one row per invalid reason with the source, the counts and an example key;
    `fail_calc` turns the flagged share of all rows into basis points, so dbt's own
    warn_if/error_if thresholds (vars flagged_share_warn_bp, flagged_share_error_bp) decide
    between pass, warn and fail, and the stored failures name the reason and a key. -#}
{% test flagged_share(model, key, source_name) %}
{{ config(
    fail_calc='coalesce(cast(10000 * sum(flagged_rows) / max(total_rows) as ' ~ dbt.type_int() ~ '), 0)',
    warn_if='>' ~ var('flagged_share_warn_bp'),
    error_if='>' ~ var('flagged_share_error_bp'),
) }}

with

rows_of_model as (

    select * from {{ model }}

),

totals as (

    select count(*) as total_rows from rows_of_model

),

flagged as (

    select
        invalid_reason,
        count(*) as flagged_rows,
        min(cast({{ key }} as {{ dbt.type_string() }})) as example_key

    from rows_of_model
    where not is_valid
    group by invalid_reason

)

select
    '{{ source_name }}' as source_name,
    flagged.invalid_reason,
    flagged.flagged_rows,
    totals.total_rows,
    flagged.example_key,
    cast(10000 * flagged.flagged_rows / totals.total_rows as {{ dbt.type_int() }}) as flagged_share_bp

from flagged
cross join totals

{% endtest %}
