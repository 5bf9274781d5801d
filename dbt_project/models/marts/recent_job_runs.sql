-- the last ten runs of every job, newest first

{%- set string = dbt.type_string() %}

with

runs as (

    select *
    from {{ source_or_empty('monitoring', 'job_runs', {
        'job': string,
        'as_of_date': 'date',
        'status': string,
        'detail': string,
        'finished_at': dbt.type_timestamp(),
    }) }}

),

ranked as (

    select
        job,
        cast(as_of_date as date) as as_of_date,
        status,
        detail,
        finished_at,
        row_number() over (partition by job order by finished_at desc) as recency

    from runs

)

select * from ranked
where recency <= 10
