"""Alert mail through Amazon SES (v1 SendRawEmail): the caller builds the MIME message, this sends it.

SES v1 rather than v2 because moto records v1 raw messages, so tests can read back exactly what
was sent. Nothing above this module touches boto3: a failure is `MailUnavailable` (worth a retry:
throttling, a 5xx, the network) or `MailRejected` (SES will never take this message: retrying
only repeats the refusal), so the caller can retry the one and drop or park the other.

`outbox_dir` (local runs only) also keeps a copy of each sent message on disk, `<MessageId>.eml`
and, when there is one, its HTML part as `<MessageId>.html`, to look at alerts in a browser.
"""

from __future__ import annotations

import email
import email.policy
import logging
import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

logger = logging.getLogger(__name__)

# Codes SES (or the AWS front end) returns for a transient state; they come with a 400 status,
# so the status alone cannot tell them from a permanent refusal.
RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestTimeout",
        "RequestTimeoutException",
        "ServiceUnavailable",
        "InternalFailure",
        "AccountSendingPausedException",  # paused sending resumes: keep the alert, retry later
        "ConfigurationSetSendingPausedException",
    }
)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class MailUnavailable(Exception):
    """SES refused or could not be reached: retry later (throttling, 5xx, network)."""


class MailRejected(Exception):
    """SES will never accept this message (MessageRejected, bad address, unverified sender): do not retry."""


def safe_name(name: str) -> str:
    """A file name from an SES id: only [A-Za-z0-9._-], so an id can never leave the outbox folder."""
    cleaned = _UNSAFE.sub("_", name).lstrip(".")
    return cleaned or "message"


def classify(error: ClientError) -> Exception:
    """MailUnavailable for transient codes and any 5xx (or unknown status); MailRejected for other 4xx."""
    code = str(error.response.get("Error", {}).get("Code", ""))
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    text = f"{code or 'error'}: {error.response.get('Error', {}).get('Message', '')}"
    if code in RETRYABLE_CODES or status >= 500 or not 400 <= status < 500:
        return MailUnavailable(text)
    return MailRejected(text)


def html_part(raw_message: bytes) -> str | None:
    """The decoded HTML body of a MIME message (transfer encoding and charset undone), if it has one."""
    message = email.message_from_bytes(raw_message, policy=email.policy.default)
    assert isinstance(message, EmailMessage)  # the `default` policy builds EmailMessage objects
    body = message.get_body(preferencelist=("html",))
    if body is None:
        return None
    content = body.get_content()
    return content if isinstance(content, str) else None


class SesMailer:
    def __init__(self, region: str, outbox_dir: str | None = None, client: Any | None = None) -> None:
        self.region = region
        self.outbox_dir = Path(outbox_dir) if outbox_dir else None
        self.client = client or boto3.client("ses", region_name=region)

    def send(self, raw_message: bytes, sender: str, recipients: list[str], configuration_set: str | None = None) -> str:
        """Send one MIME message with SES v1 SendRawEmail; returns SES's MessageId."""
        if not recipients:
            # Without Destinations SES would mail whoever the headers name: make the caller say it.
            raise ValueError("at least one recipient is required")
        request: dict[str, Any] = {
            "Source": sender,
            "Destinations": list(recipients),
            "RawMessage": {"Data": raw_message},
        }
        if configuration_set:
            request["ConfigurationSetName"] = configuration_set
        try:
            response = self.client.send_raw_email(**request)
        except ClientError as error:
            raise classify(error) from error
        except ParamValidationError as error:  # a malformed request is never going to be accepted
            raise MailRejected(str(error)) from error
        except BotoCoreError as error:  # connection refused, timeouts, credentials not found
            raise MailUnavailable(f"{type(error).__name__}: {error}") from error
        message_id = str(response["MessageId"])
        if self.outbox_dir is not None:
            self._keep(message_id, raw_message)
        return message_id

    def _keep(self, message_id: str, raw_message: bytes) -> None:
        """Write the local copies; a failure is logged, not raised, since SES already took the message."""
        assert self.outbox_dir is not None
        name = safe_name(message_id)
        try:
            self.outbox_dir.mkdir(parents=True, exist_ok=True)
            (self.outbox_dir / f"{name}.eml").write_bytes(raw_message)
            html = html_part(raw_message)
            if html is not None:
                (self.outbox_dir / f"{name}.html").write_text(html, encoding="utf-8")
        except (OSError, ValueError, LookupError) as error:
            logger.warning("could not write %s to the outbox %s: %s", name, self.outbox_dir, error)
