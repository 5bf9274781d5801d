{#- Time guards: a dated source row belongs in [the company's data start, the time it was
    loaded + an allowed clock skew]. A row outside that window stays in raw and is flagged in
    staging, so a timestamp of 2099 or 1900 never stretches the spine, a label window or a
    feature. Both bounds are settings (CHURN_SOURCE_DATA_START, CHURN_SOURCE_CLOCK_SKEW_HOURS),
    read as the vars source_data_start and source_clock_skew_hours. -#}

{#- `ts` plus a whole number of seconds, as a timestamp -#}
{% macro add_seconds(ts, seconds) -%}
    {{ return(adapter.dispatch('add_seconds', 'churn')(ts, seconds)) }}
{%- endmacro %}

{% macro default__add_seconds(ts, seconds) -%}
    ({{ ts }} + to_seconds({{ seconds }}))
{%- endmacro %}

{% macro bigquery__add_seconds(ts, seconds) -%}
    timestamp_add({{ ts }}, interval {{ seconds }} second)
{%- endmacro %}

{#- the first moment a source row may be dated -#}
{% macro data_start_timestamp() -%}
    cast('{{ var("source_data_start") }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{#- the last moment a row loaded at `loaded_at` may be dated -#}
{% macro latest_plausible_timestamp(loaded_at) -%}
    {{ add_seconds(loaded_at, (var('source_clock_skew_hours') | float * 3600) | int) }}
{%- endmacro %}

{#- `when` branches of a `case` naming why `ts` (a timestamp, or a date cast to one) is out of
    its window; `label` names the column in the reason -#}
{% macro time_guard_reasons(ts, loaded_at='loaded_at', label=none) -%}
    when {{ ts }} < {{ data_start_timestamp() }} then '{{ label or ts }} before the data start'
    when {{ ts }} > {{ latest_plausible_timestamp(loaded_at) }} then '{{ label or ts }} after its load'
{%- endmacro %}
