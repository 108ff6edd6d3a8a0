"""GET /leads/{email}: the score breakdown (IAM-authorised at the API; never public)."""

from __future__ import annotations

from functools import cache
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from ..core.events import parse_email
from ..service.scoring import ScoringService, build_service_from_env
from .common import RequestError, json_response, logger, metrics, register_error_handlers

app = APIGatewayHttpResolver()
register_error_handlers(app)


@cache
def service() -> ScoringService:
    return build_service_from_env()


@app.get("/leads/<email>")
def read_lead(email: str) -> Response:
    written = unquote(email)
    address = parse_email(written)  # the same normalisation as at the doors that create leads
    if address is None:
        raise RequestError(400, "not_an_email", f"{written[:80]!r} is not an email address")
    description = service().describe_lead(address)
    if description is None:
        raise RequestError(404, "lead_not_found", "no such lead")
    return json_response(200, description)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
