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


{#- Config shared by the keyed incremental models: delete+insert where dbt-duckdb runs,
    merge on BigQuery (dbt-bigquery has no delete+insert); on BigQuery the table is
    partitioned by `date_column` and clustered by customer (`date_column` none: neither). A
    snapshot model names the model whose `churn_date` takes snapshots out (`churn_dates_from`,
    one row per churned customer: int_customer_churn_dates); a later signup day in
    stg_crm__customers takes them out too. -#}
{% macro incremental_by_customer_date(unique_key, date_column, granularity='month', churn_dates_from=none) -%}
    {%- set post_hook = [] -%}
    {#- a unit test renders the model with its given inputs only, and runs no hooks -#}
    {%- if churn_dates_from is not none and model.resource_type != 'unit_test' -%}
        {#- ref() here makes the model depend on it, as the hook (rendered later) needs -#}
        {%- do ref(churn_dates_from) -%}
        {%- do ref('stg_crm__customers') -%}
        {%- do post_hook.append("{{ delete_snapshots_after_churn(ref('" ~ churn_dates_from ~ "')) }}") -%}
        {%- do post_hook.append("{{ delete_snapshots_before_signup(ref('stg_crm__customers')) }}") -%}
    {%- endif -%}
    {%- if target.type == 'bigquery' -%}
        {{ config(
            materialized='incremental',
            unique_key=unique_key,
            incremental_strategy='merge',
            on_schema_change='append_new_columns',
            partition_by=(
                {'field': date_column, 'data_type': 'date', 'granularity': granularity}
                if date_column is not none else none
            ),
            cluster_by=(['customer_id'] if date_column is not none else none),
            post_hook=post_hook,
        ) }}
    {%- else -%}
        {{ config(
            materialized='incremental',
            unique_key=unique_key,
            incremental_strategy='delete+insert',
            on_schema_change='append_new_columns',
            post_hook=post_hook,
        ) }}
    {%- endif -%}
{%- endmacro %}


{#- How the incremental snapshot models (grain customer x as_of_date) know what to recompute.
    Every row carries `inputs_loaded_at`: the latest load of its inputs when it was computed.
    A run computes the spine rows added since (a new week, a new customer) and recomputes,
    per customer, every snapshot after the earliest day whose input rows arrived since; the
    rest stay as they are (a late cancellation's later snapshots are deleted by a post-hook). This assumes the models run in DAG order after
    a load (`dbt build`, as the flows run it): a snapshot model run alone before the spine has
    taken in a new load can skip rows; `--full-refresh` rebuilds from scratch. -#}

{#- The watermark a run stamps on the rows it computes. `inputs`: (relation, loaded-at column).
    Pass `ref()`s, not import CTEs: DuckDB materializes a CTE read more than once in full. -#}
{% macro inputs_watermark(inputs) -%}
    select max(loaded_at) as inputs_loaded_at
    from (
        {%- for relation, column in inputs %}
        select max({{ column }}) as loaded_at from {{ relation }}
        {%- if not loop.last %}
        union all
        {%- endif %}
        {%- endfor %}
    ) as loads
{%- endmacro %}


{#- The watermark of the last run (an empty table: before any load). -#}
{% macro last_run_watermark() -%}
    (
        select coalesce(max(previous.inputs_loaded_at), cast('1900-01-01' as {{ dbt.type_timestamp() }}))
        from {{ this }} as previous
    )
{%- endmacro %}


{#- Per customer, the earliest day with input rows loaded since the last run: snapshots after
    it may change. `inputs`: (relation, expression of the day a row starts to count, so that
    snapshot D reads it when the day is before D[, a filter on the rows that count]). -#}
{% macro changed_customers(inputs) -%}
    select
        customer_id,
        min(changed_date) as first_changed_date
    from (
        {%- for input in inputs %}
        select
            customer_id,
            {{ input[1] }} as changed_date
        from {{ input[0] }}
        where
            loaded_at > {{ last_run_watermark() }}
            {%- if input | length > 2 %}
            and {{ input[2] }}
            {%- endif %}
        {%- if not loop.last %}
        union all
        {%- endif %}
        {%- endfor %}
    ) as changed_rows
    group by customer_id
{%- endmacro %}


{#- The end of a `from spine` that keeps the snapshots an incremental run recomputes: spine
    rows added since the last run (`spine.spine_loaded_at`: the spine's `added_loaded_at`) and
    the snapshots after each customer's first changed day (`changes`, from changed_customers). -#}
{% macro snapshots_to_recompute(spine, changes) -%}
    left join {{ changes }}
        on {{ spine }}.customer_id = {{ changes }}.customer_id
    where
        {{ spine }}.spine_loaded_at > {{ last_run_watermark() }}
        or {{ spine }}.as_of_date > {{ changes }}.first_changed_date
{%- endmacro %}


{#- The stamp of the run before this one: rows of an input loaded after it can have left
    snapshots that no longer exist (the rows before were known when they were computed). -#}
{% macro previous_run_watermark() -%}
    (
        select coalesce(max(stamps.inputs_loaded_at), cast('1900-01-01' as {{ dbt.type_timestamp() }}))
        from {{ this }} as stamps
        where stamps.inputs_loaded_at < (
            select max(latest.inputs_loaded_at) from {{ this }} as latest
        )
    )
{%- endmacro %}


{#- post-hook: a late cancellation takes the customer's later snapshots out of the spine;
    an incremental run deletes them here too (a full build never computes them). -#}
{% macro delete_snapshots_after_churn(churn_dates) -%}
    {{ delete_snapshots_left_by(churn_dates, 'cause.churn_date < kept.as_of_date') }}
{%- endmacro %}


{#- post-hook: a CRM correction that moves a signup day later takes the customer's earlier
    snapshots out of the spine (an earlier day adds snapshots, which the run computes). -#}
{% macro delete_snapshots_before_signup(customers) -%}
    {{ delete_snapshots_left_by(
        customers, '(cause.signup_date is null or cause.signup_date >= kept.as_of_date)'
    ) }}
{%- endmacro %}


{#- Delete the snapshots that a row of `causes` (customer_id, loaded_at) takes out of the spine
    (`takes_out`: a condition on `cause` and `kept`). Only rows loaded after the run before
    this one can leave such snapshots, so an IN list of their customers comes first (DuckDB
    plans the correlated EXISTS alone as a pass over the table) and the usual run compares a
    few rows; the hook runs in the model's transaction, so a failed run redoes it. -#}
{% macro delete_snapshots_left_by(causes, takes_out) -%}
    {%- if incremental_branch() -%}
        delete from {{ this }} as kept
        where
            kept.customer_id in (
                select recent.customer_id
                from {{ causes }} as recent
                where recent.loaded_at > {{ previous_run_watermark() }}
            )
            and exists (
                select 1
                from {{ causes }} as cause
                where
                    cause.customer_id = kept.customer_id
                    and {{ takes_out }}
            )
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}


{#- `alias.*` without some columns: `exclude` in DuckDB, `except` in BigQuery. -#}
{% macro all_columns_except(alias, columns) -%}
    {{ alias }}.* {{ 'except' if target.type == 'bigquery' else 'exclude' }} ({{ columns | join(', ') }})
{%- endmacro %}


{#- The latest `loaded_at` an insert-only model holds (an empty table: before any load). -#}
{% macro last_loaded_at() -%}
    (
        select coalesce(max(already_loaded.loaded_at), cast('1900-01-01' as {{ dbt.type_timestamp() }}))
        from {{ this }} as already_loaded
    )
{%- endmacro %}


{#- The rows of `rows` (an import CTE) a keyed history model writes: a full build all of them,
    an incremental run every row of each `key` with a row loaded (`loaded_at`) since the last
    run, since a new row ends the validity of the one before it. -#}
{% macro rows_of_changed_keys(rows, key, loaded_at='loaded_at') -%}
    select {{ rows }}.*
    from {{ rows }}
    {%- if incremental_branch() %}
    where {{ rows }}.{{ key }} in (
        select changed.{{ key }}
        from {{ rows }} as changed
        where changed.{{ loaded_at }} > {{ last_loaded_at() }}
    )
    {%- endif %}
{%- endmacro %}


{#- An upstream snapshot model's rows for the snapshots this run computes. An incremental run
    joins them to the (small) `targets` first, so the warehouse probes the upstream table with
    the targets instead of building a hash table of all its rows. -#}
{% macro rows_for_targets(model, targets='targets') -%}
    select upstream.*
    from {{ ref(model) }} as upstream
    {%- if incremental_branch() %}
    inner join {{ targets }}
        on
            upstream.customer_id = {{ targets }}.customer_id
            and upstream.as_of_date = {{ targets }}.as_of_date
    {%- endif %}
{%- endmacro %}


{#- The CTEs every snapshot model starts with, after its `spine` CTE (customer_id, as_of_date,
    spine_loaded_at): `watermark` (the stamp of this run), `changes` (incremental runs only)
    and `targets`, the snapshots this run computes. `inputs`: the model's inputs as
    changed_customers takes them; each has a `loaded_at`. -#}
{% macro snapshot_targets(inputs) -%}
    {%- set loads = [(ref('int_customer_weeks'), 'added_loaded_at')] -%}
    {%- for input in inputs -%}
        {%- do loads.append((input[0], 'loaded_at')) -%}
    {%- endfor -%}
watermark as (

    -- the latest load this run includes: the next run recomputes what arrives after it
    {{ inputs_watermark(loads) }}

),

{% if incremental_branch() %}
    changes as (

        {{ changed_customers(inputs) }}

    ),
{% endif %}

targets as (

    -- a full build computes every spine row, an incremental run only those that may change
    select
        spine.customer_id,
        spine.as_of_date

    from spine
    {% if incremental_branch() %}
        {{ snapshots_to_recompute('spine', 'changes') }}
    {% endif %}

)
{%- endmacro %}


{#- The `where` clause of the raw rows an event staging model takes: those loaded since its
    last run (all of them on a full build); with var `staging_loads_per_run`, only the first
    that many loads of those, so that a first build of years of events stages them a few loads
    at a time (flows/staging.py): de-duplicating and sorting 468M usage events at once spilled
    more temporary data than the disk held. -#}
{% macro loads_to_stage(relation, incremental) -%}
    {%- set since = last_loaded_at() if incremental else none -%}
    {%- set conditions = [] -%}
    {%- if incremental -%}
        {%- do conditions.append('_loaded_at > ' ~ since) -%}
    {%- endif -%}
    {%- set loads = var('staging_loads_per_run', none) -%}
    {%- if loads is not none -%}
        {%- set pending -%}
        _loaded_at <= (
            select max(pending._loaded_at)
            from (
                select distinct waiting._loaded_at
                from {{ relation }} as waiting
                {%- if incremental %}
                where waiting._loaded_at > {{ since }}
                {%- endif %}
                order by waiting._loaded_at
                limit {{ loads | int }}
            ) as pending
        )
        {%- endset -%}
        {%- do conditions.append(pending) -%}
    {%- endif -%}
    {%- if conditions %}
    where {{ conditions | join('\n        and ') }}
    {%- endif %}
{%- endmacro %}
