{#- Generic test on a snapshot table (customer x as_of_date): every feature column is filled
    across its history. An incremental model that gains a column (on_schema_change
    'append_new_columns') fills it only on the snapshots it computes from then on; the rows
    already there keep NULL, and training sees a feature empty in the past and filled now.

    It fails with one row per column that is
    - half filled: NULL on every row of the snapshots before its first value, which comes
      after the table's first snapshot; the empty snapshots must hold enough rows that, at the
      share the column is filled from its first value on, `min_expected_rows` of them would
      hold a value (a sparse column over a first week of five customers is empty by chance);
    - too sparse: NULL in more than `null_share_max` of all rows (var feature_null_share_max),
      unless listed in `sparse_columns`.
    The row names the column, the last all-NULL and the first filled snapshot and the null
    share in `failure_detail`, for the stored failures and `report_test_failures`.

    Columns come from the relation, so a column added in SQL is covered without a YAML change;
    customer_id, as_of_date and `exclude` are not features. -#}
{% test feature_columns_filled(
    model, exclude=[], sparse_columns=[], null_share_max=none, min_expected_rows=none
) %}

{%- set model_name = model.identifier if model.identifier is defined else model | string -%}
{%- set share_max = null_share_max if null_share_max is not none else var('feature_null_share_max', 0.3) -%}
{%- set expected_min = min_expected_rows if min_expected_rows is not none else var('half_filled_min_expected_rows', 10) -%}
{%- set columns = feature_columns_of(model, ['customer_id', 'as_of_date'] + exclude) -%}
{%- set sparse = sparse_columns | map('lower') | list -%}
{%- set named = columns | map('lower') | list -%}
{%- for name in sparse -%}
    {%- if execute and columns and name not in named -%}
        {{ exceptions.raise_compiler_error(
            "feature_columns_filled on " ~ model_name ~ ": sparse_columns names '" ~ name
            ~ "', not a feature column of it (" ~ (columns | join(', ')) ~ ")"
        ) }}
    {%- endif -%}
{%- endfor -%}
{%- set float = dbt.type_float() -%}
{%- set string = dbt.type_string() -%}

{%- if columns | length == 0 %}

{#- nothing to check (parse time, or a relation without feature columns): no rows -#}
select
    cast(null as {{ string }}) as column_name,
    cast(null as {{ string }}) as failure_detail
from (select 1 as placeholder) as no_rows
where 1 = 0

{%- else %}

with

---------- one scan: per snapshot, its rows and the filled rows of every column
snapshot_counts as (

    select
        as_of_date,
        count(*) as snapshot_rows,
        {%- for column in columns %}
        count({{ adapter.quote(column) }}) as filled_{{ loop.index }}{{ ',' if not loop.last }}
        {%- endfor %}

    from {{ model }}
    group by as_of_date

),

---------- unpivot the small aggregate: a cross join with the column list reads it once
-- (a union all of one select per column would read it once per column, and BigQuery does not
-- materialize a CTE read more than once: each read would scan the model again)
feature_columns as (
{% for column in columns %}
    select {{ loop.index }} as column_index, '{{ column }}' as column_name, {{ 'true' if column | lower in sparse else 'false' }} as is_sparse
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

column_snapshots as (

    select
        feature_columns.column_name,
        feature_columns.is_sparse,
        snapshot_counts.as_of_date,
        snapshot_counts.snapshot_rows,
        case feature_columns.column_index
            {%- for column in columns %}
            when {{ loop.index }} then snapshot_counts.filled_{{ loop.index }}
            {%- endfor %}
        end as filled_rows

    from snapshot_counts
    cross join feature_columns

),

---------- per column: its first value, and the all-NULL snapshots before it
column_totals as (

    select
        column_name,
        is_sparse,
        min(as_of_date) as first_snapshot,
        min(case when filled_rows > 0 then as_of_date end) as first_filled_snapshot,
        sum(snapshot_rows) as total_rows,
        sum(filled_rows) as filled_rows

    from column_snapshots
    group by column_name, is_sparse

),

empty_history as (

    select
        column_snapshots.column_name,
        count(*) as empty_snapshots,
        sum(column_snapshots.snapshot_rows) as empty_rows,
        max(column_snapshots.as_of_date) as last_empty_snapshot

    from column_snapshots
    inner join column_totals
        on column_snapshots.column_name = column_totals.column_name
    -- every snapshot before the first value is all NULL (and has rows: it is a group)
    where column_snapshots.as_of_date < column_totals.first_filled_snapshot
    group by column_snapshots.column_name

),

column_profiles as (

    select
        column_totals.column_name,
        column_totals.is_sparse,
        column_totals.first_snapshot,
        empty_history.last_empty_snapshot,
        column_totals.first_filled_snapshot,
        coalesce(empty_history.empty_snapshots, 0) as empty_snapshots,
        coalesce(empty_history.empty_rows, 0) as empty_rows,
        column_totals.total_rows - column_totals.filled_rows as null_rows,
        column_totals.total_rows,
        cast(column_totals.total_rows - column_totals.filled_rows as {{ float }})
            / column_totals.total_rows as null_share,
        -- how many of the empty rows would hold a value at the share filled from then on
        cast(coalesce(empty_history.empty_rows, 0) as {{ float }}) * column_totals.filled_rows
            / nullif(column_totals.total_rows - coalesce(empty_history.empty_rows, 0), 0)
            as expected_filled_rows

    from column_totals
    left join empty_history
        on column_totals.column_name = empty_history.column_name

),

judged as (

    select
        *,
        coalesce(
            first_filled_snapshot > first_snapshot
            and expected_filled_rows >= {{ expected_min }},
            false
        ) as is_half_filled,
        (not is_sparse and null_share > {{ share_max }}) as is_too_sparse

    from column_profiles

)

select
    '{{ model_name }}' as model_name,
    column_name,
    case
        when is_half_filled and is_too_sparse then 'half filled, too sparse'
        when is_half_filled then 'half filled'
        else 'too sparse'
    end as failure_reason,
    first_snapshot,
    last_empty_snapshot,
    first_filled_snapshot,
    empty_snapshots,
    empty_rows,
    round(expected_filled_rows, 1) as expected_filled_rows,
    null_rows,
    total_rows,
    round(null_share, 4) as null_share,
    cast({{ share_max }} as {{ float }}) as null_share_max,
    {{ dbt.concat([
        "'" ~ model_name ~ ".'",
        "column_name",
        "': '",
        "case when is_half_filled then " ~ dbt.concat([
            "'NULL on every row from '",
            "cast(first_snapshot as " ~ string ~ ")",
            "' to '",
            "cast(last_empty_snapshot as " ~ string ~ ")",
            "' ('",
            "cast(empty_rows as " ~ string ~ ")",
            "' rows), filled from '",
            "cast(first_filled_snapshot as " ~ string ~ ")",
            "' (history not computed? an incremental model that gained the column needs --full-refresh); '",
        ]) ~ " else '' end",
        "'NULL in '",
        "cast(round(100 * null_share, 1) as " ~ string ~ ")",
        "'% of '",
        "cast(total_rows as " ~ string ~ ")",
        "' rows'",
        "case when is_too_sparse then ', above the " ~ ((share_max | float) * 100) | round(1) ~ "% allowed (list it in sparse_columns if expected)' else '' end",
    ]) }} as failure_detail

from judged
where is_half_filled or is_too_sparse

{%- endif %}

{% endtest %}


{#- The columns of `relation` but `excluded` (case-insensitive), in table order. Without
    introspection (the offline BigQuery compile) the columns declared in the model's YAML. -#}
{% macro feature_columns_of(relation, excluded) -%}
    {%- set names = [] -%}
    {%- if execute and flags.INTROSPECT -%}
        {%- for column in adapter.get_columns_in_relation(relation) -%}
            {%- do names.append(column.name) -%}
        {%- endfor -%}
    {%- elif execute -%}
        {%- for node in graph.nodes.values() -%}
            {%- if node.resource_type == 'model' and node.alias == relation.identifier
                and node.schema == relation.schema -%}
                {%- do names.extend(node.columns.keys()) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set skipped = excluded | map('lower') | list -%}
    {%- set kept = [] -%}
    {%- for name in names if name | lower not in skipped -%}
        {%- do kept.append(name) -%}
    {%- endfor -%}
    {{ return(kept) }}
{%- endmacro %}
