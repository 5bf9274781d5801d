-- one row per active customer per weekly as_of_date (a Monday): every column but the keys is
-- a model feature, built (incrementally) in int_customer_features

{#- the contract (this model's YAML) must list the declared features as declared -#}
{{ check_feature_contract(['customer_id', 'as_of_date']) }}

with

features as (

    select * from {{ ref('int_customer_features') }}

)

select {{ all_columns_except('features', ['churn_date', 'inputs_loaded_at']) }}
from features
