"""The fixed-window rate limiter on moto and on DynamoDB Local: exact limits, fresh windows,
independent keys, TTL, failures as RateLimitUnavailable, and exactness under concurrency."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import boto3
import pytest
from botocore.stub import Stubber

from leadscore.adapters.ratelimit import (
    EXPIRY_MARGIN_SECONDS,
    RateLimiter,
    RateLimitItem,
    RateLimitUnavailable,
    item_key,
)
from leadscore.local.stack import REGION
from leadscore.settings import Settings, SettingsError

# The start of the next hour (a window start for every length used here), not a fixed date:
# DynamoDB Local applies TTL, so items whose expires_at is in the past vanish mid-test.
NOW = float((int(time.time()) // 3600 + 1) * 3600)
WINDOW = 60


def test_a_limit_of_n_allows_exactly_n_in_a_window(rate_limit_settings):
    limiter = RateLimiter(rate_limit_settings)
    answers = [limiter.allow("ip#203.0.113.7", 5, WINDOW, NOW + i) for i in range(8)]
    assert answers == [True] * 5 + [False] * 3
    # refused requests are not counted: the window's count stays at the limit
    assert RateLimitItem.get(item_key("ip#203.0.113.7", WINDOW, NOW), consistent_read=True).hits == 5


def test_the_last_instant_of_a_window_still_counts_in_it(rate_limit_settings):
    limiter = RateLimiter(rate_limit_settings)
    assert limiter.allow("form#contact", 1, WINDOW, NOW)
    assert not limiter.allow("form#contact", 1, WINDOW, NOW + WINDOW - 0.001)


def test_a_new_window_starts_fresh(rate_limit_settings):
    limiter = RateLimiter(rate_limit_settings)
    assert [limiter.allow("ip#203.0.113.7", 2, WINDOW, NOW) for _ in range(3)] == [True, True, False]
    assert [limiter.allow("ip#203.0.113.7", 2, WINDOW, NOW + WINDOW) for _ in range(3)] == [True, True, False]
    assert limiter.allow("ip#203.0.113.7", 2, WINDOW, NOW + 5 * WINDOW + 30)


def test_keys_are_independent(rate_limit_settings):
    limiter = RateLimiter(rate_limit_settings)
    assert [limiter.allow("ip#203.0.113.7", 1, WINDOW, NOW) for _ in range(2)] == [True, False]
    assert limiter.allow("ip#203.0.113.8", 1, WINDOW, NOW)
    assert limiter.allow("form#contact", 1, WINDOW, NOW)
    # the same key with another window length is another counter
    assert limiter.allow("ip#203.0.113.7", 1, 3600, NOW)


def test_each_window_item_expires_after_its_window(rate_limit_settings):
    limiter = RateLimiter(rate_limit_settings)
    limiter.allow("ip#203.0.113.7", 3, WINDOW, NOW + 10)
    item = RateLimitItem.get(f"ip#203.0.113.7#{WINDOW}s#{int(NOW)}", consistent_read=True)  # <key>#<length>s#<start>
    assert item.hits == 1
    assert item.expires_at == int(NOW) + WINDOW + EXPIRY_MARGIN_SECONDS
    # and the table removes expired items by that attribute (TTL from template.yaml)
    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=rate_limit_settings.dynamodb_endpoint)
    ttl = client.describe_time_to_live(TableName=rate_limit_settings.rate_limit_table)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at" and ttl["TimeToLiveStatus"] in {"ENABLED", "ENABLING"}


def test_throttling_raises_rate_limit_unavailable(rate_limit_settings):
    limiter = RateLimiter(rate_limit_settings)
    client = RateLimitItem._get_connection().connection.client
    with pytest.raises(RateLimitUnavailable, match="ProvisionedThroughputExceededException"), Stubber(client) as stub:
        for _ in range(20):  # more than the SDK's own retries
            stub.add_client_error(
                "update_item", service_error_code="ProvisionedThroughputExceededException", http_status_code=400
            )
        limiter.allow("ip#203.0.113.7", 5, WINDOW, NOW)
    # nothing was counted, and once the table answers again requests are allowed
    assert limiter.allow("ip#203.0.113.7", 1, WINDOW, NOW)


def test_a_missing_table_raises_rate_limit_unavailable(rate_limit_settings):
    limiter = RateLimiter(replace(rate_limit_settings, rate_limit_table="no-such-table"))
    with pytest.raises(RateLimitUnavailable, match="ResourceNotFoundException"):
        limiter.allow("ip#203.0.113.7", 5, WINDOW, NOW)


def test_the_limiter_needs_a_table_and_sane_arguments():
    with pytest.raises(SettingsError, match="RATE_LIMIT_TABLE"):
        RateLimiter(Settings())
    limiter = RateLimiter(Settings(rate_limit_table="rate-limit"))
    for key, limit, window in (("", 1, 60), ("k", 0, 60), ("k", 1, 0)):
        with pytest.raises(ValueError):
            limiter.allow(key, limit, window, NOW)


def test_twenty_concurrent_requests_on_one_key_allow_exactly_the_limit(dynamodb_local_rate_limit_settings):
    limiter = RateLimiter(dynamodb_local_rate_limit_settings)
    limit, workers = 7, 20
    start = threading.Barrier(workers)

    def request(_: int) -> bool:
        start.wait()  # all twenty race for the same item at once
        return limiter.allow("ip#203.0.113.7", limit, WINDOW, NOW)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        answers = list(pool.map(request, range(workers)))
    assert answers.count(True) == limit and answers.count(False) == workers - limit
    assert RateLimitItem.get(item_key("ip#203.0.113.7", WINDOW, NOW), consistent_read=True).hits == limit
