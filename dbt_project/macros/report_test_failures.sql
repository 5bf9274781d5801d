{#-
    on-run-end hook: for every failed or warned test that stored its failures, log the model,
    the column and up to three failing rows, so that a failure names a sample key.
-#}
{% macro report_test_failures(results) %}
    {%- if execute -%}
        {%- for res in results -%}
            {%- if res.node.resource_type == 'test' and res.status in ('fail', 'warn') -%}
                {%- set node = res.node -%}
                {%- set model_names = [] -%}
                {%- for r in node.refs -%}{%- do model_names.append(r.name) -%}{%- endfor -%}
                {%- for s in node.sources -%}{%- do model_names.append(s | join('.')) -%}{%- endfor -%}
                {%- set column_name = node.column_name or (node.test_metadata.kwargs.get('combination_of_columns') | join(', ') if node.test_metadata and node.test_metadata.kwargs.get('combination_of_columns') else '') -%}
                {%- set sample = [] -%}
                {%- if node.relation_name and node.config.store_failures -%}
                    {%- set rows = run_query('select * from ' ~ node.relation_name ~ ' limit 3') -%}
                    {%- for row in rows.rows -%}
                        {%- set d = {} -%}
                        {%- for c in rows.column_names -%}{%- do d.update({c: row[loop.index0] | string}) -%}{%- endfor -%}
                        {%- do sample.append(d) -%}
                    {%- endfor -%}
                {%- endif -%}
                {{ log("TEST FAILURE " ~ node.name ~ " | model: " ~ (model_names | join(', ')) ~ " | column: " ~ column_name ~ " | failures: " ~ res.failures ~ " | sample: " ~ tojson(sample), info=True) }}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{% endmacro %}
