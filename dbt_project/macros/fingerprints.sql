{#- Changed models recompute their history.

    An incremental model only computes new rows; if its SQL changed since its table was built
    (a feature added, a window made shorter), the rows already there keep the old definition
    and a feature would mean one thing before a date and another after it. So every
    incremental model's table is kept with a fingerprint of the SQL that built it: its own
    file, the files of every model it reads (recursively), the project macros they call, the
    column metadata of its YAML and the vars that shape history. When the fingerprint differs
    from the one stored with the table, the next run rebuilds the model in full
    (`should_full_refresh` below); its incremental descendants have changed fingerprints too,
    so they rebuild as well, and an unchanged model stays incremental. The store is the table
    `intermediate.dbt_model_fingerprints`, written by each incremental model's post-hook in the
    same run that built the table. -#}

{#- vars whose value changes rows already built (the spine, the time window of sources) -#}
{% macro history_vars() -%}
    {{ return(['spine_warmup_days', 'source_data_start', 'source_clock_skew_hours']) }}
{%- endmacro %}


{% macro fingerprint_relation() -%}
    {{ return(api.Relation.create(
        database=target.database, schema='intermediate', identifier='dbt_model_fingerprints'
    )) }}
{%- endmacro %}


{#- the source text of a project macro and of the project macros it calls, once each -#}
{% macro _macro_texts(macro_ids, seen) -%}
    {%- set texts = [] -%}
    {%- for macro_id in macro_ids | sort -%}
        {%- set parts = macro_id.split('.') -%}
        {%- if parts[1] == project_name and macro_id not in seen -%}
            {%- do seen.append(macro_id) -%}
            {%- set generator = context[project_name].get(parts[2]) -%}
            {%- if generator is not none -%}
                {%- do texts.append(generator.macro.macro_sql) -%}
                {%- do texts.extend(_macro_texts(generator.macro.depends_on.macros, seen)) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(texts) }}
{%- endmacro %}


{#- the fingerprints computed in this run, kept on dbt's graph (one object per invocation):
    `is_incremental()` is asked several times per model, and hashing the upstream graph with
    its macros each time would cost seconds per run -#}
{% macro fingerprint_memo() -%}
    {%- if 'churn_fingerprints' not in graph -%}
        {%- do graph.update({'churn_fingerprints': {}}) -%}
    {%- endif -%}
    {{ return(graph['churn_fingerprints']) }}
{%- endmacro %}


{#- md5 of what defines the rows of a model node: see the header. `memo` (a dict) keeps the
    fingerprint of each node already visited, so shared ancestors are hashed once. -#}
{% macro node_fingerprint(unique_id, memo) -%}
    {%- if unique_id in memo -%}
        {{ return(memo[unique_id]) }}
    {%- endif -%}
    {%- set node = graph.nodes[unique_id] -%}
    {%- set parts = [node.checksum.checksum] -%}
    {%- for parent in node.depends_on.nodes | sort -%}
        {%- if parent.startswith('model.') or parent.startswith('seed.') -%}
            {%- do parts.append(node_fingerprint(parent, memo)) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do parts.extend(_macro_texts(node.depends_on.macros, [])) -%}
    {%- for name, column in node.columns | dictsort -%}
        {%- do parts.append(name ~ tojson(column.meta or {}, sort_keys=true)) -%}
    {%- endfor -%}
    {%- for name in history_vars() -%}
        {#- a number compares as a number: `24` from dbt_project.yml, `24.0` from the settings -#}
        {%- set value = var(name, '') | string -%}
        {%- if modules.re.fullmatch('[0-9]+(\\.[0-9]*)?', value) -%}
            {%- set value = value | float -%}
        {%- endif -%}
        {%- do parts.append(name ~ '=' ~ value) -%}
    {%- endfor -%}
    {%- set fingerprint = local_md5(parts | join('\n')) -%}
    {%- do memo.update({unique_id: fingerprint}) -%}
    {{ return(fingerprint) }}
{%- endmacro %}


{#- fingerprints stored for these model names ({} when the store does not exist yet) -#}
{% macro stored_fingerprints(names) -%}
    {%- set store = fingerprint_relation() -%}
    {%- if not execute or names | length == 0 -%}
        {{ return({}) }}
    {%- endif -%}
    {%- if adapter.get_relation(store.database, store.schema, store.identifier) is none -%}
        {{ return({}) }}
    {%- endif -%}
    {%- set rows = run_query(
        'select model, fingerprint from ' ~ store ~ " where model in ('" ~ (names | join("', '")) ~ "')"
    ) -%}
    {%- set found = {} -%}
    {%- for row in rows.rows -%}
        {%- do found.update({row[0]: row[1]}) -%}
    {%- endfor -%}
    {{ return(found) }}
{%- endmacro %}


{#- why an incremental model must be rebuilt in full, or none: its table exists and was built
    by other SQL than the project's now (or before fingerprints were kept) -#}
{% macro rebuild_reason(node) -%}
    {%- set relation = adapter.get_relation(node.database, node.schema, node.alias or node.name) -%}
    {%- if relation is none -%}
        {{ return(none) }}
    {%- endif -%}
    {#- read once per model and run (announce_full_rebuilds reads all selected ones in one
        query): is_incremental() asks several times, always before the model's post-hook -#}
    {%- set known = fingerprint_memo() -%}
    {%- if ('stored:' ~ node.name) not in known -%}
        {%- do known.update({'stored:' ~ node.name: stored_fingerprints([node.name]).get(node.name)}) -%}
    {%- endif -%}
    {%- set stored = known['stored:' ~ node.name] -%}
    {%- if stored is none -%}
        {{ return('no fingerprint kept with its table') }}
    {%- endif -%}
    {%- if stored != node_fingerprint(node.unique_id, fingerprint_memo()) -%}
        {{ return('its SQL or the SQL it reads changed since its table was built') }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}


{#- dbt's should_full_refresh, plus: an incremental model whose fingerprint changed -#}
{% macro should_full_refresh() %}
    {%- set config_full_refresh = config.get('full_refresh') -%}
    {%- if config_full_refresh is none -%}
        {%- set config_full_refresh = flags.FULL_REFRESH -%}
        {%- if not config_full_refresh and execute and flags.INTROSPECT
            and model.resource_type == 'model' and model.config.materialized == 'incremental' -%}
            {%- set config_full_refresh = rebuild_reason(model) is not none -%}
        {%- endif -%}
    {%- endif -%}
    {%- do return(config_full_refresh) -%}
{% endmacro %}


{#- on-run-start: create the store, and say in one line which selected incremental models this
    run rebuilds in full and why -#}
{% macro announce_full_rebuilds() -%}
    {#- an offline compile (--no-introspect) reads no warehouse: nothing to compare -#}
    {%- if execute and flags.INTROSPECT -%}
        {%- set store = fingerprint_relation() -%}
        {%- do adapter.create_schema(store) -%}
        {%- do run_query(
            'create table if not exists ' ~ store
            ~ ' (model ' ~ dbt.type_string() ~ ', fingerprint ' ~ dbt.type_string()
            ~ ', recorded_at ' ~ dbt.type_timestamp() ~ ')'
        ) -%}
        {%- if not flags.FULL_REFRESH -%}
            {%- set selected = [] -%}
            {%- for node in graph.nodes.values()
                if node.resource_type == 'model' and node.config.materialized == 'incremental'
                and node.unique_id in selected_resources -%}
                {%- do selected.append(node.name) -%}
            {%- endfor -%}
            {%- set found = stored_fingerprints(selected) -%}
            {%- for name in selected -%}
                {%- do fingerprint_memo().update({'stored:' ~ name: found.get(name)}) -%}
            {%- endfor -%}
            {%- set rebuilt = [] -%}
            {%- for node in graph.nodes.values()
                if node.resource_type == 'model' and node.config.materialized == 'incremental'
                and node.unique_id in selected_resources and node.config.full_refresh is none -%}
                {%- set reason = rebuild_reason(node) -%}
                {%- if reason is not none -%}
                    {%- do rebuilt.append(node.name ~ ' (' ~ reason ~ ')') -%}
                {%- endif -%}
            {%- endfor -%}
            {%- if rebuilt -%}
                {{ log('FULL REBUILD of ' ~ rebuilt | length ~ ' incremental model(s), every snapshot recomputed: ' ~ rebuilt | join('; '), info=True) }}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
    select 1
{%- endmacro %}


{#- post-hook of every incremental model: keep the fingerprint of the SQL that built it -#}
{% macro record_fingerprint() -%}
    {%- if execute and model.config.materialized == 'incremental' -%}
        {%- set store = fingerprint_relation() -%}
        delete from {{ store }} where model = '{{ model.name }}';
        insert into {{ store }} (model, fingerprint, recorded_at)
        values (
            '{{ model.name }}',
            '{{ node_fingerprint(model.unique_id, fingerprint_memo()) }}',
            {{ dbt.current_timestamp() }}
        )
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
