"""The API fuzzed from its own OpenAPI document (schemathesis): no 5xx, every answer as documented.

Schema-valid bodies may still be refused (400/403/404): a port above 65535, an image the policy
does not allow, a container that does not exist are beyond what JSON Schema says, so schemathesis'
check that valid data is accepted is left out. Mutating calls go with a viewer token, so the fuzzer
exercises parsing, validation and policy without removing anything real on this machine; reads go
with the admin token.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.support.stack import API_TOKEN, VIEWER_TOKEN, Stack
from tests.support.stack_factory import StackOptions

pytestmark = pytest.mark.e2e


STACK = StackOptions(db=5)


@pytest.fixture(scope="module")
def api_schema(stack: Stack) -> schemathesis.BaseSchema:
    """The document the running web serves at /openapi.json."""
    return schemathesis.openapi.from_url(f"{stack.web_url}/openapi.json")


def test_api_answers_as_documented(api_schema: schemathesis.BaseSchema) -> None:
    """Any generated request gets a documented status, a body of the documented shape, and never a 5xx
    other than the documented 503/504 of a busy or missing dependency."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def call(case: schemathesis.Case) -> None:
            token = API_TOKEN if case.method == "GET" else VIEWER_TOKEN
            response = case.call_and_validate(
                headers={"Authorization": f"Bearer {token}"}, excluded_checks=[positive_data_acceptance]
            )
            assert response.status_code not in (500, 502), (case.method, case.formatted_path, response.text)

        call()
