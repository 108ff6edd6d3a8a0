"""DELETE /leads/{email}: erase a lead everywhere (the right to be forgotten); IAM-authorised, never public.

Answers 200 with what was deleted (counts only) and where the audit record is; a second call
finds nothing, deletes nothing and still answers 200.
"""

from __future__ import annotations

from functools import cache
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from ..adapters.dynamodb import LeadRepository
from ..core.events import parse_email
from ..service.forgetting import Forgetting, audit_key
from ..settings import STORAGE, Settings
from . import runtime
from .common import RequestError, json_response, logger, metrics, register_error_handlers

app = APIGatewayHttpResolver()
register_error_handlers(app)


@cache
def forgetting() -> Forgetting:
    settings = Settings.from_env(required=STORAGE)
    return Forgetting(LeadRepository(settings), audit_key(runtime.tracking_secrets()[0]))


def principal(event: dict[str, Any]) -> str:
    """The IAM principal that signed the request (API Gateway's IAM authoriser puts it in the context)."""
    iam = ((event.get("requestContext") or {}).get("authorizer") or {}).get("iam") or {}
    return str(iam.get("userArn") or iam.get("principalOrgId") or "unknown")


@app.delete("/leads/<email>")
def forget_lead(email: str) -> Response:
    written = unquote(email)
    address = parse_email(written)  # the same normalisation as the doors that create leads
    if address is None:
        raise RequestError(400, "not_an_email", "the path does not hold an email address")
    report = forgetting().forget(address, principal(app.current_event.raw_event))
    logger.info("lead forgotten", extra={"deleted": report.deleted(), "audit": report.audit})  # no address logged
    return json_response(200, {"deleted": report.deleted(), "audit": report.audit})


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
