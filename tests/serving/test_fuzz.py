"""The published OpenAPI schema, fuzzed: every answer is documented, no 5xx, valid data is
accepted and invalid data refused (bounded examples, so it stays fast).

Driven through hypothesis directly: schemathesis' pytest fixture loader does not run under
pytest 9 (schemathesis 4.32)."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from serving.app import create_app
from serving.config import ServingConfig

EXAMPLES = 30


def test_every_operation_conforms_to_the_published_schema(world):
    app = create_app(world.settings, world.cfg, ServingConfig(poll_seconds=0, warm_latest=False))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
        "POST /predict",
        "POST /predict/batch",
        "GET /health",
        "GET /metrics",
        "GET /model",
    }
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        def fuzz(case) -> None:  # noqa: ANN001 - a schemathesis Case
            case.call_and_validate()

        fuzz()
