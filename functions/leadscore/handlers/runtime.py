"""Singletons built once per cold start (settings, compiled model, clients), reset by tests."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities import parameters

from ..adapters.queue import ScoringQueue
from ..adapters.ratelimit import RateLimiter
from ..core.built import load_deployed
from ..core.compiler import CompiledModel
from ..core.frozen import BUILTIN_EVENT_TYPES, DEFAULT_NPS
from ..settings import Settings

if TYPE_CHECKING:
    from ..core.spec import NpsSpec


@cache
def settings() -> Settings:
    return Settings.from_env()


@cache
def model() -> CompiledModel:
    """The model in the rules layer (MODEL_PATH), as the build validated it, compiled once; its hash goes in history."""
    return load_deployed(settings().model_path)


@cache
def known_event_types() -> frozenset[str]:
    return frozenset((*BUILTIN_EVENT_TYPES, *model().spec.event_types))


def nps_scale() -> NpsSpec:
    """The model's NPS settings (the defaults when it has none): answers off the scale are refused at the door."""
    return model().spec.nps or DEFAULT_NPS


@cache
def queue() -> ScoringQueue:
    config = Settings.from_env(required=["scoring_queue_url"])
    return ScoringQueue(config.scoring_queue_url)


def tracking_secrets() -> list[str]:
    """The HMAC secrets, one per line of the SSM parameter (two while rotating); cached 5 minutes."""
    name = Settings.from_env(required=["tracking_secret_parameter"]).tracking_secret_parameter
    value = str(parameters.get_parameter(name, decrypt=True, max_age=300))
    return [line.strip() for line in value.splitlines() if line.strip()]


def _lines(name: str) -> list[str]:
    value = str(parameters.get_parameter(name, decrypt=True, max_age=300))
    return [line.strip() for line in value.splitlines() if line.strip()]


def segment_write_keys() -> dict[str, list[str]]:
    """The Segment write keys by kind ("server", "browser"), one per line of each SSM parameter
    (two while rotating); cached 5 minutes, as the tracking secrets are. No browser parameter: none."""
    config = Settings.from_env(required=["segment_server_keys_parameter"])
    browser = config.segment_browser_keys_parameter
    return {"server": _lines(config.segment_server_keys_parameter), "browser": _lines(browser) if browser else []}


@cache
def rate_limiter() -> RateLimiter | None:
    """The public routes' throttle; None where no rate-limit table is configured."""
    return RateLimiter(settings()) if settings().rate_limit_table else None


def reset() -> None:
    for cached in (settings, model, known_event_types, queue, rate_limiter):
        cached.cache_clear()
