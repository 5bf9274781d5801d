"""Monitoring: drift, predictions against outcomes, who is newly High, and the rows the jobs
keep in `monitoring.*`. Each module imports only what it needs, so the app can use
`newly_high` without loading MLflow or scikit-learn."""
