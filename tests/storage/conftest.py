"""Storage tests run twice: on moto, and on Amazon's DynamoDB Local (stricter: real conditions,
real transactions), so moto's leniencies cannot hide a bug. Tables come from template.yaml."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import boto3
import pytest

from leadscore.adapters.dynamodb import LeadRepository
from leadscore.core.compiler import compile_model
from leadscore.core.loader import load_model, load_text
from leadscore.local.stack import REGION, create_tables, local_aws, storage_settings
from leadscore.service.scoring import ScoringService
from leadscore.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
JAR_DIR = ROOT / ".dynamodb-local"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def dynamodb_local():
    jar = JAR_DIR / "DynamoDBLocal.jar"
    if not jar.exists() or shutil.which("java") is None:
        message = "DynamoDB Local is not installed: run scripts/dynamodb-local.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(message)  # CI must test the second engine
        pytest.skip(message)
    port = _free_port()
    process = subprocess.Popen(
        [
            "java",
            f"-Djava.library.path={JAR_DIR / 'DynamoDBLocal_lib'}",
            "-jar",
            str(jar),
            "-inMemory",
            "-port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
    deadline = time.time() + 30
    while True:
        try:
            client.list_tables()
            break
        except Exception:
            if time.time() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("DynamoDB Local did not start")
            time.sleep(0.2)
    yield endpoint
    process.terminate()
    process.wait(timeout=10)


class Engine:
    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self.settings = settings
        self.repository = LeadRepository(settings)

    def service(self, model_text: str | None = None, **kwargs) -> ScoringService:
        compiled = compile_model(load_text(model_text) if model_text else load_model(ROOT / "rules"))
        return ScoringService(LeadRepository(self.settings), compiled, **kwargs)


def _settings(tables: dict[str, str], endpoint: str | None) -> Settings:
    return storage_settings(tables, endpoint)


@pytest.fixture
def atomic_moto_requests(monkeypatch):
    """DynamoDB applies each request atomically; in-process moto does not (its transactions
    deep-copy tables that other threads are writing). Serialising requests restores the
    service's guarantee; our code's races between requests stay fully exercised."""
    from moto.core.botocore_stubber import BotocoreStubber

    lock = threading.Lock()
    process = BotocoreStubber.process_request

    def one_at_a_time(self, request):
        with lock:
            return process(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", one_at_a_time)


@pytest.fixture(params=["moto", "dynamodb-local"])
def engine(request):
    if request.param == "moto":
        request.getfixturevalue("atomic_moto_requests")
        with local_aws():
            tables = create_tables(boto3.client("dynamodb", region_name=REGION), prefix=f"t{uuid.uuid4().hex[:8]}")
            yield Engine("moto", _settings(tables, None))
    else:
        endpoint = request.getfixturevalue("dynamodb_local")
        client = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
        tables = create_tables(client, prefix=f"t{uuid.uuid4().hex[:8]}")
        yield Engine("dynamodb-local", _settings(tables, endpoint))


@pytest.fixture(params=["moto", "dynamodb-local"])
def rate_limit_settings(request):
    """Settings naming the template's RateLimitTable, on moto and on DynamoDB Local."""
    if request.param == "moto":
        with local_aws():
            tables = create_tables(boto3.client("dynamodb", region_name=REGION), prefix=f"t{uuid.uuid4().hex[:8]}")
            yield Settings(rate_limit_table=tables["RateLimitTable"], region=REGION)
    else:
        endpoint = request.getfixturevalue("dynamodb_local")
        yield _rate_limit_settings_on(endpoint)


@pytest.fixture
def dynamodb_local_rate_limit_settings(dynamodb_local):
    """DynamoDB Local only: in-process moto is not safe for concurrent requests."""
    return _rate_limit_settings_on(dynamodb_local)


def _rate_limit_settings_on(endpoint: str) -> Settings:
    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
    tables = create_tables(client, prefix=f"t{uuid.uuid4().hex[:8]}")
    return Settings(rate_limit_table=tables["RateLimitTable"], dynamodb_endpoint=endpoint, region=REGION)
