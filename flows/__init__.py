"""Orchestration: the `churn` CLI and the Prefect flows. Wiring only, no business logic."""
