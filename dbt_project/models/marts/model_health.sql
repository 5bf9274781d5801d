-- one row: which model version is champion and since when, its holdout metrics, the latest
-- scoring and the latest drift verdict (nulls until the jobs have run)

{%- set string = dbt.type_string() -%}
{%- set float = dbt.type_float() %}

with

promotions as (

    select *
    from {{ source_or_empty('ml', 'model_promotions', {
        'promoted_at': dbt.type_timestamp(),
        'model_name': string,
        'action': string,
        'alias': string,
        'from_version': string,
        'to_version': string,
        'actor': string,
        'reason': string,
        'metrics': string,
        'run_id': string,
    }) }}

),

history as (

    select * from {{ ref('customer_risk_history') }}

),

drift as (

    select * from {{ ref('drift_history') }}

),

champion_moves as (

    select
        model_name,
        to_version as champion_version,
        promoted_at as champion_since,
        action as champion_action,
        actor as champion_actor,
        reason as champion_reason,
        {{ dbt.safe_cast(json_extract_string('metrics', '$.roc_auc'), float) }} as holdout_roc_auc,
        {{ dbt.safe_cast(json_extract_string('metrics', '$.pr_auc'), float) }} as holdout_pr_auc,
        {{ dbt.safe_cast(json_extract_string('metrics', '$.brier'), float) }} as holdout_brier,
        {{ dbt.safe_cast(json_extract_string('metrics', '$.lift_top_10'), float) }} as holdout_lift_top_10,
        row_number() over (order by promoted_at desc) as recency

    from promotions
    where alias = 'champion'

),

promotion_counts as (

    select
        cast(sum(case when alias = 'champion' then 1 else 0 end) as {{ dbt.type_bigint() }})
            as champion_moves

    from promotions

),

latest_scoring as (

    select
        max(as_of_date) as last_scored_as_of,
        max(scored_at) as last_scored_at

    from history

),

latest_scoring_version as (

    select max(history.model_version) as last_scored_version

    from history
    inner join latest_scoring
        on history.as_of_date = latest_scoring.last_scored_as_of

),

latest_drift as (

    select
        as_of_date as drift_as_of,
        status as drift_status,
        drift_share,
        features_drifted,
        features_checked,
        row_number() over (order by as_of_date desc) as recency

    from drift

),

final as (

    select
        'current' as health_id,
        champion_moves.model_name,
        champion_moves.champion_version,
        champion_moves.champion_since,
        champion_moves.champion_action,
        champion_moves.champion_actor,
        champion_moves.champion_reason,
        champion_moves.holdout_roc_auc,
        champion_moves.holdout_pr_auc,
        champion_moves.holdout_brier,
        champion_moves.holdout_lift_top_10,
        coalesce(promotion_counts.champion_moves, 0) as champion_moves,
        latest_scoring.last_scored_as_of,
        latest_scoring.last_scored_at,
        latest_scoring_version.last_scored_version,
        latest_drift.drift_as_of,
        coalesce(latest_drift.drift_status, 'not checked') as drift_status,
        latest_drift.drift_share,
        latest_drift.features_drifted,
        latest_drift.features_checked

    from latest_scoring
    cross join latest_scoring_version
    cross join promotion_counts
    left join champion_moves
        on champion_moves.recency = 1
    left join latest_drift
        on latest_drift.recency = 1

)

select * from final
