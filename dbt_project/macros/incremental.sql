{#- Whether a model renders its incremental branch. `incremental_branch` (true/false) renders
    one branch without asking the warehouse whether the table exists: the offline BigQuery
    compile check sets it; otherwise dbt decides (`is_incremental()`). -#}
{% macro incremental_branch() -%}
    {%- set forced = var('incremental_branch', none) -%}
    {%- if forced is none -%}
        {#- a unit test has no `this` unless it overrides is_incremental -#}
        {{ return(is_incremental() if this is not none else false) }}
    {%- endif -%}
    {{ return(forced) }}
{%- endmacro %}


{#- Config shared by the incremental models keyed on (customer, date): delete+insert where
    dbt-duckdb runs, merge on BigQuery (dbt-bigquery has no delete+insert); on BigQuery the
    table is partitioned by `date_column` and clustered by customer. -#}
{% macro incremental_by_customer_date(unique_key, date_column, granularity='month') -%}
    {%- if target.type == 'bigquery' -%}
        {{ config(
            materialized='incremental',
            unique_key=unique_key,
            incremental_strategy='merge',
            on_schema_change='append_new_columns',
            partition_by={'field': date_column, 'data_type': 'date', 'granularity': granularity},
            cluster_by=['customer_id'],
        ) }}
    {%- else -%}
        {{ config(
            materialized='incremental',
            unique_key=unique_key,
            incremental_strategy='delete+insert',
            on_schema_change='append_new_columns',
        ) }}
    {%- endif -%}
{%- endmacro %}


{#- The end of a `from spine` that keeps the snapshots an incremental run recomputes: those it
    has never computed (a new week, a customer that arrived late) and those after the earliest
    date of `changed` loaded since its last run (`usage_loaded_at`), late days included. -#}
{% macro snapshots_to_recompute(spine, changed, changed_date) -%}
    left join {{ this }} as computed
        on
            {{ spine }}.customer_id = computed.customer_id
            and {{ spine }}.as_of_date = computed.as_of_date
    where
        computed.as_of_date is null
        or {{ spine }}.as_of_date > (
            select min({{ changed }}.{{ changed_date }}) from {{ changed }}
            where {{ changed }}.loaded_at > (
                select max(previous.usage_loaded_at) from {{ this }} as previous
            )
        )
{%- endmacro %}
