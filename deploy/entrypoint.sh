#!/bin/sh
# The image's roles. The first argument picks one; anything else is a `churn` command, so
#   docker run churn score --as-of 2026-01-05
# runs a one-off job. Roles: api, app, worker, prefect-server, mlflow-server, demo-week.
# Servers `exec`, so they get the container's signals as PID 1.
set -eu

role="${1:---help}"
health_file="${TMPDIR:-/tmp}/churn-health-url"
rm -f "$health_file"

case "$role" in
  api)
    shift
    port="${CHURN_API_PORT:-8000}"
    echo "http://127.0.0.1:${port}/health" > "$health_file"
    exec churn serve --host 0.0.0.0 --port "$port" "$@"
    ;;
  app)
    shift
    port="${CHURN_APP_PORT:-8501}"
    echo "http://127.0.0.1:${port}/_stcore/health" > "$health_file"
    # from /app, so Streamlit reads the project's .streamlit/config.toml
    cd /app
    # the launcher refuses 0.0.0.0 without sign-in unless CHURN_APP_ALLOW_NO_SIGN_IN=true
    exec python -m dashboards.launch --address 0.0.0.0 --port "$port" "$@"
    ;;
  worker)
    shift
    pool="${CHURN_WORK_POOL:-churn}"
    prefect work-pool inspect "$pool" > /dev/null 2>&1 \
      || prefect work-pool create "$pool" --type process
    if [ "${CHURN_DEPLOY_ON_START:-0}" = 1 ]; then
      # the schedules of prefect.yaml, in the company's time zone
      cd /app && CHURN_TIMEZONE="${CHURN_TIMEZONE:-UTC}" prefect --no-prompt deploy --all
    fi
    exec prefect worker start --pool "$pool" --type process "$@"
    ;;
  prefect-server)
    shift
    exec prefect server start --host 0.0.0.0 --port "${CHURN_PREFECT_PORT:-4200}" "$@"
    ;;
  mlflow-server)
    shift
    port="${CHURN_MLFLOW_PORT:-5000}"
    echo "http://127.0.0.1:${port}/health" > "$health_file"
    exec mlflow server --host 0.0.0.0 --port "$port" \
      --backend-store-uri "${CHURN_MLFLOW_BACKEND_STORE_URI:-sqlite:////data/mlflow-server.db}" \
      --artifacts-destination "${CHURN_MLFLOW_ARTIFACTS_DESTINATION:-/data/mlartifacts}" \
      --serve-artifacts --workers "${CHURN_MLFLOW_WORKERS:-2}" \
      ${CHURN_MLFLOW_ALLOWED_HOSTS:+--allowed-hosts "$CHURN_MLFLOW_ALLOWED_HOSTS"} "$@"
    ;;
  demo-week)
    # demo-sized sources, then the weekly loop once (a Prefect flow) on that Monday
    shift
    as_of="${CHURN_DEMO_AS_OF:-2025-12-29}"
    churn simulate --customers "${CHURN_DEMO_CUSTOMERS:-3000}"
    churn release --as-of "$as_of"
    exec churn weekly --as-of "$as_of" "$@"
    ;;
  *)
    exec churn "$@"
    ;;
esac
