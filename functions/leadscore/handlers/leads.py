"""GET /leads/{email}: the score breakdown (IAM-authorised at the API; never public)."""

from __future__ import annotations

from functools import cache
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from ..core.events import is_email, normalise_email
from ..service.scoring import ScoringService, build_service_from_env
from .common import RequestError, json_response, logger, metrics, register_error_handlers

app = APIGatewayHttpResolver()
register_error_handlers(app)


@cache
def service() -> ScoringService:
    return build_service_from_env()


@app.get("/leads/<email>")
def read_lead(email: str) -> Response:
    address = normalise_email(unquote(email))
    if not is_email(address):
        raise RequestError(400, f"{address[:80]!r} is not an email address")
    description = service().describe_lead(address)
    if description is None:
        raise RequestError(404, "no such lead")
    return json_response(200, description)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
