"""Singletons built once per cold start (settings, compiled model, clients), reset by tests."""

from __future__ import annotations

from functools import cache

from ..adapters.queue import ScoringQueue
from ..core.compiler import CompiledModel, compile_model
from ..core.loader import load_model
from ..core.spec import BUILTIN_EVENT_TYPES
from ..settings import Settings


@cache
def settings() -> Settings:
    return Settings.from_env()


@cache
def model() -> CompiledModel:
    """The model in the artifact (MODEL_PATH), validated and compiled once; its hash goes in history."""
    return compile_model(load_model(settings().model_path))


@cache
def known_event_types() -> frozenset[str]:
    return frozenset((*BUILTIN_EVENT_TYPES, *model().spec.event_types))


@cache
def queue() -> ScoringQueue:
    config = Settings.from_env(required=["scoring_queue_url"])
    return ScoringQueue(config.scoring_queue_url)


def reset() -> None:
    for cached in (settings, model, known_event_types, queue):
        cached.cache_clear()
