"""Fixed-window rate limiting on DynamoDB: one conditional UpdateItem per request.

Each key and window is one item, `<key>#<window length>s#<window start>` (the length keeps a
per-minute and a per-hour limit on one key apart). `ADD hits 1` only happens while
`hits < limit` (or the item is new): DynamoDB applies condition and increment atomically, so
however many Lambdas race, exactly `limit` requests pass in a window (no read-then-write gap),
and a refused request changes nothing. Items carry `expires_at` (the table's TTL attribute),
a margin after their window ends: the margin keeps TTL, which runs on DynamoDB's clock, from
deleting a window that a Lambda whose clock lags slightly still counts in.

Nothing above this module touches PynamoDB or boto3: a refusal is `False`; throttling and any
other failure is `RateLimitUnavailable`, and the caller decides to fail open or closed.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PynamoDBException, UpdateError
from pynamodb.models import Model

from ..settings import Settings, SettingsError

EXPIRY_MARGIN_SECONDS = 300


class RateLimitUnavailable(Exception):
    """The limiter could not decide (throttling, timeouts, a missing table)."""


class RateLimitItem(Model):
    """The request count of one key in one window."""

    class Meta:
        table_name = "rate-limit"

    key = UnicodeAttribute(hash_key=True)  # <caller's key>#<window seconds>s#<window start, epoch seconds>
    hits = NumberAttribute(null=True)
    expires_at = NumberAttribute(null=True)  # TTL: window end + EXPIRY_MARGIN_SECONDS


def bind(settings: Settings) -> None:
    """Point the model at the deployed table (RATE_LIMIT_TABLE), as adapters/dynamodb.py does."""
    RateLimitItem.Meta.table_name = settings.rate_limit_table
    RateLimitItem.Meta.host = settings.dynamodb_endpoint
    RateLimitItem.Meta.region = settings.region
    RateLimitItem._connection = None  # rebuilt lazily with the new table name and endpoint


def window_start(now: float, window_seconds: int) -> int:
    return int(now // window_seconds) * window_seconds


def item_key(key: str, window_seconds: int, now: float) -> str:
    return f"{key}#{window_seconds}s#{window_start(now, window_seconds)}"


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        # Fail loudly: with a default table name every call would raise RateLimitUnavailable,
        # and a caller that fails open would silently run without a limit.
        if not settings.rate_limit_table:
            raise SettingsError("missing environment variable(s): RATE_LIMIT_TABLE")
        bind(settings)

    def allow(self, key: str, limit: int, window_seconds: int, now: float) -> bool:
        """Count one request for `key`; False once `limit` requests were allowed in this window."""
        if not key:
            raise ValueError("a rate-limit key is required")
        if limit < 1 or window_seconds < 1:
            raise ValueError(f"limit and window_seconds must be at least 1, not {limit} and {window_seconds}")
        start = window_start(now, window_seconds)
        item = RateLimitItem(item_key(key, window_seconds, now))
        try:
            item.update(
                actions=[
                    RateLimitItem.hits.add(1),
                    RateLimitItem.expires_at.set(start + window_seconds + EXPIRY_MARGIN_SECONDS),
                ],
                condition=RateLimitItem.hits.does_not_exist() | (RateLimitItem.hits < limit),
            )
        except UpdateError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise RateLimitUnavailable(f"{error.cause_response_code or type(error).__name__}: {error}") from error
        except PynamoDBException as error:
            raise RateLimitUnavailable(f"{type(error).__name__}: {error}") from error
        return True
