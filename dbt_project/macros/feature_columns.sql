{#- Features are declared once, where they are computed: a column of a model's YAML with
    `config: {meta: {feature: true}}`, its `data_type` and `description`, and optionally the
    value a snapshot with no value gets in the features (`fill`, a SQL literal such as 0 or
    false). int_customer_features selects every declared feature from the graph, and the
    contracts of features.customer_features and features.training_set must list them all,
    in int_customer_features' order; `churn features sync` writes those lists (docs/contracts.md
    §3). These macros read the graph, so they return nothing at parse time. -#}


{#- The declared features, in the order of `ordered_by`'s YAML columns (the order of the
    features tables, kept by `churn features sync`): dicts with name, model (where it is
    computed), data_type, has_fill and fill. With `joined` (the models `ordered_by` reads
    features from), a feature declared anywhere else is an error, not a silent omission. -#}
{% macro declared_features(ordered_by='int_customer_features', joined=none) -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set found = {} -%}
    {%- for node in graph.nodes.values() | sort(attribute='unique_id')
        if node.resource_type == 'model' and node.package_name == project_name -%}
        {%- for column in node.columns.values() -%}
            {#- dbt merges a column's `config.meta` into its `meta` -#}
            {%- set meta = column.meta or {} -%}
            {%- if meta.get('feature') is sameas true -%}
                {%- if column.name in found -%}
                    {{ exceptions.raise_compiler_error(
                        "feature " ~ column.name ~ " is declared twice, in "
                        ~ found[column.name].model ~ " and in " ~ node.name
                        ~ ": a feature has one name in the features tables"
                    ) }}
                {%- endif -%}
                {%- do found.update({column.name: {
                    'name': column.name,
                    'model': node.name,
                    'data_type': column.data_type,
                    'has_fill': 'fill' in meta,
                    'fill': meta.get('fill'),
                }}) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}

    {%- set order_node = graph.nodes['model.' ~ project_name ~ '.' ~ ordered_by] -%}
    {%- set features = [] -%}
    {%- for name in order_node.columns if name in found -%}
        {%- do features.append(found[name]) -%}
    {%- endfor -%}
    {%- set unlisted = [] -%}
    {%- for name in found if name not in order_node.columns -%}
        {%- do unlisted.append(name ~ ' (' ~ found[name].model ~ ')') -%}
    {%- endfor -%}
    {%- if unlisted -%}
        {{ exceptions.raise_compiler_error(
            ordered_by ~ ".yml does not list the features " ~ (unlisted | join(', '))
            ~ " yet: run `churn features sync`, which writes them into it and into the"
            ~ " contracts of the features models"
        ) }}
    {%- endif -%}
    {%- if joined is not none -%}
        {%- for feature in features
            if feature.model not in joined and feature.model != ordered_by -%}
            {{ exceptions.raise_compiler_error(
                feature.model ~ " declares the feature " ~ feature.name ~ ", but " ~ ordered_by
                ~ " does not read " ~ feature.model ~ ": add it to the models it joins"
            ) }}
        {%- endfor -%}
    {%- endif -%}
    {{ return(features) }}
{%- endmacro %}


{#- A declared feature read from the CTE `relation`, with its fill for a snapshot without a
    value: `coalesce(relation.name, fill)`, or `relation.name` when it declares none. -#}
{% macro filled_feature(feature, relation) -%}
    {%- set column = relation ~ '.' ~ feature.name -%}
    {%- if not feature.has_fill -%}
        {{ column }}
    {%- elif feature.fill is boolean -%}
        coalesce({{ column }}, {{ 'true' if feature.fill else 'false' }})
    {%- else -%}
        coalesce({{ column }}, {{ feature.fill }})
    {%- endif -%}
{%- endmacro %}


{#- Fails the build, naming `churn features sync`, when the enforced contract of the model
    being built does not list the declared features as declared (name, data_type, order).
    dbt's own contract check then compares the contract with the columns the SQL returns, so
    a declared data_type the SQL does not produce still fails with dbt's contract error.
    `not_features`: the contract's other columns (keys, label). -#}
{% macro check_feature_contract(not_features) -%}
    {#- a unit test renders the model with its given inputs only -#}
    {%- if not execute or model.resource_type != 'model' -%}
        {{ return('') }}
    {%- endif -%}
    {#- dbt stores a contract's data_types translated to the adapter's names (`string` ->
        `text` on DuckDB): compare both sides translated -#}
    {%- set declared = [] -%}
    {%- for feature in declared_features() -%}
        {%- do declared.append(
            feature.name ~ ' ' ~ api.Column.translate_type(feature.data_type | string) | lower
        ) -%}
    {%- endfor -%}
    {%- set listed = [] -%}
    {%- for column in model.columns.values() if column.name not in not_features -%}
        {%- do listed.append(
            column.name ~ ' ' ~ api.Column.translate_type(column.data_type | string) | lower
        ) -%}
    {%- endfor -%}
    {%- if listed != declared -%}
        {%- set missing = declared | reject('in', listed) | list -%}
        {%- set stale = listed | reject('in', declared) | list -%}
        {{ exceptions.raise_compiler_error(
            model.name ~ ": the contract does not list the declared features as declared"
            ~ " (missing or changed: [" ~ (missing | join(', ')) ~ "]; not declared or"
            ~ " changed: [" ~ (stale | join(', ')) ~ "]"
            ~ ("" if missing or stale else "; in another order") ~ ")."
            ~ " Run `churn features sync`: it writes the contract from the YAML of the"
            ~ " models that compute the features"
        ) }}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}
