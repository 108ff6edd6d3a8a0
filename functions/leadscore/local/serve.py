"""`leadscore serve`: every function of template.yaml running on this machine, no account, no Docker.

moto's server stands in for AWS on a local port (tables, queues, parameters, the SES identity and
the bus created from template.yaml); the HTTP routes answer on another port with API Gateway
shaped events; the SQS and DynamoDB-stream event sources are polled in background threads and
fed to their functions as Lambda feeds them; the schedules run on a clock (real, or simulated and
advanced on demand). Functions, handlers, routes, event sources and each function's environment
are read from template.yaml, so what runs here cannot drift from what is deployed.

Local-only endpoints live under /_local/ on the same port and only here, never in template.yaml.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from .gateway import Answer, Gateway
from .stack import REGION, ROOT, TEMPLATE, LambdaContext, Stack, provision, read_template, sqs_event

ACCOUNT_ID = "123456789012"
LOCAL_PREFIX = "/_local"
PSEUDO_PARAMETERS = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT_ID,
    "AWS::Partition": "aws",
    "AWS::StackName": "leadscore-local",
    "AWS::URLSuffix": "amazonaws.com",
}
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"


class ServeError(RuntimeError):
    """The template asks for something serve cannot stand in for; the message names it."""


# --- reading the template ------------------------------------------------------------------


@dataclass(frozen=True)
class Trigger:
    """A function's event source other than an API route: SQS, a DynamoDB stream, a schedule."""

    function: str  # logical id
    handler: str  # module.function
    kind: str  # SQS, DynamoDB, ScheduleV2
    name: str  # the event's name in the template
    properties: dict[str, Any]


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical: resource["Properties"]
        for logical, resource in template["Resources"].items()
        if resource.get("Type") == "AWS::Serverless::Function"
    }


def triggers(template: dict[str, Any]) -> list[Trigger]:
    found = []
    for logical, properties in functions(template).items():
        for name, event in (properties.get("Events") or {}).items():
            if event.get("Type") in {"SQS", "DynamoDB", "ScheduleV2", "Schedule"}:
                found.append(
                    Trigger(logical, properties["Handler"], event["Type"], name, event.get("Properties") or {})
                )
    return found


class Resolver:
    """CloudFormation intrinsics resolved against the local stand-ins (Ref, GetAtt, Join, Sub)."""

    def __init__(
        self,
        template: dict[str, Any],
        physical: dict[str, str],
        attributes: dict[str, str],
        overrides: dict[str, str] | None = None,
    ) -> None:
        self.parameters = template.get("Parameters") or {}
        self.physical = physical  # logical id -> name or URL (what Ref gives)
        self.attributes = attributes  # "Logical.Attr" -> value (what GetAtt gives)
        self.overrides = overrides or {}

    def parameter(self, name: str) -> str | list[str]:
        declared = self.parameters[name]
        value = self.overrides.get(name, declared.get("Default", ""))
        if declared.get("Type") == "CommaDelimitedList":
            return [item.strip() for item in str(value).split(",") if item.strip()]
        return str(value)

    def ref(self, name: str) -> str | list[str]:
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        if name in self.parameters:
            return self.parameter(name)
        if name in self.physical:
            return self.physical[name]
        raise ServeError(f"template.yaml refers to {name}, which leadscore serve does not stand in for")

    def get_att(self, target: str) -> str:
        if target not in self.attributes:
            raise ServeError(f"template.yaml asks for !GetAtt {target}, which leadscore serve does not stand in for")
        return self.attributes[target]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((kind, argument),) = value.items()
            if kind == "Ref":
                return self.ref(argument)
            if kind == "Fn::GetAtt":
                return self.get_att(argument if isinstance(argument, str) else ".".join(argument))
            if kind == "Fn::Join":
                separator, items = argument
                resolved = self.resolve(items)
                return separator.join(str(self.resolve(item)) for item in resolved)
            if kind == "Fn::Sub":
                text = argument if isinstance(argument, str) else argument[0]

                def substitute(match: re.Match[str]) -> str:
                    name = match.group(1)
                    return str(self.get_att(name) if "." in name and name not in PSEUDO_PARAMETERS else self.ref(name))

                return re.sub(r"\$\{([^}!]+)\}", substitute, text)
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        return value

    def environment(self, template: dict[str, Any], function: str) -> dict[str, str]:
        """One function's variables: the Globals' and its own, resolved."""
        shared = ((template.get("Globals") or {}).get("Function") or {}).get("Environment", {}).get("Variables", {})
        own = (functions(template)[function].get("Environment") or {}).get("Variables", {})
        resolved = {}
        for name, value in {**shared, **own}.items():
            result = self.resolve(value)
            resolved[name] = ",".join(result) if isinstance(result, list) else str(result)
        return resolved


# --- schedules and the clock ---------------------------------------------------------------


@dataclass(frozen=True)
class Recurrence:
    """A daily-or-simpler EventBridge Scheduler expression: cron(M H * * ? *) or rate(N unit)."""

    expression: str
    timezone: str = "UTC"

    def next_after(self, moment: float) -> float:
        cron = re.fullmatch(r"cron\(\s*(\d+)\s+(\d+)\s+[*?]\s+\*\s+[*?]\s+\*\s*\)", self.expression)
        if cron:
            minute, hour = int(cron.group(1)), int(cron.group(2))
            zone = ZoneInfo(self.timezone)
            local = datetime.fromtimestamp(moment, zone)
            candidate = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
            while candidate.timestamp() <= moment:
                candidate = (candidate + timedelta(days=1)).replace(hour=hour, minute=minute)
            return candidate.timestamp()
        rate = re.fullmatch(r"rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)", self.expression)
        if rate:
            step = int(rate.group(1)) * {"m": 60, "h": 3600, "d": 86400}[rate.group(2)[0]]
            return (int(moment // step) + 1) * step
        raise ServeError(
            f"schedule expression {self.expression!r}: leadscore serve runs cron(M H * * ? *) and rate(...) only"
        )


class Clock:
    """The time the schedules follow: the wall clock, or the wall clock plus an offset moved on demand."""

    def __init__(self, mode: str) -> None:
        if mode not in {"real", "simulated"}:
            raise ServeError(f"--clock {mode!r}: choose real or simulated")
        self.mode = mode
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        if self.mode != "simulated":
            raise ServeError("the clock is real; start serve with --clock simulated to move it")
        if seconds <= 0:
            raise ServeError("a clock only moves forward")
        self.offset += seconds


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- event sources -------------------------------------------------------------------------


@dataclass
class QueueSource:
    """An SQS event source: long-polls the queue, calls the function with a batch, deletes what
    succeeded and lets the failures return (after a short local backoff), parking a message after
    the queue's maxReceiveCount as the redrive policy would."""

    trigger: Trigger
    queue_url: str
    queue_arn: str
    batch_size: int
    max_receives: int
    delivered: int = 0
    failed: int = 0
    dead_letters: list[str] = field(default_factory=list)
    received: deque[str] = field(default_factory=lambda: deque(maxlen=10_000))  # bodies, for inspection
    received_total: int = 0
    busy: bool = False


@dataclass
class StreamSource:
    """A DynamoDB stream event source: ordered batches, retried from the first reported failure."""

    trigger: Trigger
    batch_size: int
    pending: list[dict[str, Any]] = field(default_factory=list)
    delivered: int = 0
    retries: int = 0
    cycles: int = 0
    found_last_cycle: bool = False
    busy: bool = False


# --- serve ---------------------------------------------------------------------------------


@dataclass
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    model: Path = ROOT / "rules"
    outbox: Path = Path("outbox")
    clock: str = "simulated"
    moto_port: int = 0  # 0: any free port
    allow_origins: tuple[str, ...] = ()  # empty: the template's AllowedOrigins plus this server's own origins
    log_level: str = "WARNING"  # the template's LogLevel parameter, quieter for a terminal
    secret: str = "local-tracking-secret"
    template: Path = TEMPLATE
    poll_wait_seconds: int = 1  # SQS long-poll wait; also bounds how long a stop waits for a poller


class Serve:
    """Start with `start()` (or `with Serve(options) as served:`), stop with `stop()`."""

    def __init__(self, options: ServeOptions | None = None) -> None:
        self.options = options or ServeOptions()
        self.template = read_template(self.options.template)
        self.clock = Clock(self.options.clock)
        self.invoke_lock = threading.Lock()  # one function call at a time: the handlers share this process
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._saved_environment: dict[str, str] | None = None
        self._moto: Any = None
        self._gateway: Gateway | None = None
        self._schedule_lock = threading.Lock()
        self._last_fired: dict[str, float] = {}
        self._drained = {"delivered": 0, "failed": 0}
        self.enabled = threading.Event()  # the event source mappings' state
        self.enabled.set()
        self.stack: Stack | None = None
        self.environment: dict[str, str] = {}
        self.functions_environment: dict[str, dict[str, str]] = {}
        self.queues: list[QueueSource] = []
        self.streams: list[StreamSource] = []
        self.schedules: list[tuple[Trigger, Recurrence]] = []
        self.runs: list[dict[str, Any]] = []
        self.requests = 0
        self.started_at = 0.0

    # -- life cycle --

    @property
    def url(self) -> str:
        assert self._gateway is not None, "start() first"
        return self._gateway.url

    @property
    def routes(self) -> list[Any]:
        """The template's API routes, as the gateway matches them."""
        assert self._gateway is not None, "start() first"
        return self._gateway.routes

    @property
    def moto_url(self) -> str:
        host, port = self._moto.get_host_and_port()
        return f"http://{host}:{port}"

    def start(self) -> Serve:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request at INFO
        self._saved_environment = dict(os.environ)
        os.environ.update(
            {  # never a real account: fake credentials whatever the shell holds
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",  # moto's DynamoDB Streams need it
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_DISABLED": "true",  # EMF lines would flood the terminal
            }
        )
        os.environ.pop("AWS_PROFILE", None)
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.options.moto_port, verbose=False)
        self._moto.start()
        os.environ["AWS_ENDPOINT_URL"] = self.moto_url  # every client in this process, PynamoDB's too
        try:
            self._provision()
        except BaseException:
            self._moto.stop()
            self._restore_environment()
            raise
        self.started_at = time.time()
        for source in self.queues:
            self._spawn(f"sqs-{source.trigger.function}-{source.trigger.name}", self._poll_queue, source)
        for stream in self.streams:
            self._spawn(f"stream-{stream.trigger.function}-{stream.trigger.name}", self._poll_stream, stream)
        if self.schedules:
            self._spawn("schedules", self._run_schedules)
        assert self._gateway is not None
        self._gateway.__enter__()
        return self

    def _spawn(self, name: str, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=f"leadscore-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _provision(self) -> None:
        options = self.options
        stack = provision(secret=options.secret, aws_endpoint_url=self.moto_url)
        self.stack = stack
        self._gateway = Gateway(options.template, options.host, options.port, lock=self.invoke_lock, local=self._local)
        port = self._gateway.url.rsplit(":", 1)[1]
        origins = options.allow_origins or (
            *self.template["Parameters"]["AllowedOrigins"]["Default"].split(","),
            f"http://localhost:{port}",
            f"http://127.0.0.1:{port}",
        )
        self._gateway.allowed_origins = tuple(origin.strip() for origin in origins if origin.strip())
        physical = {
            **stack.tables,
            "ScoringQueue": stack.queue_url,
            "ScheduleWorkQueue": stack.schedule_work_queue_url,
            "RescoreQueue": stack.rescore_queue_url,
            "AlertDeadLetterQueue": stack.alert_dead_letter_queue_url,
            "AlertEventBus": stack.event_bus,
        }
        sqs = stack.client("sqs")
        attributes: dict[str, str] = {}
        for logical in ("ScoringQueue", "ScheduleWorkQueue", "RescoreQueue", "AlertDeadLetterQueue"):
            arn = sqs.get_queue_attributes(QueueUrl=physical[logical], AttributeNames=["QueueArn"])
            attributes[f"{logical}.Arn"] = arn["Attributes"]["QueueArn"]
        dynamodb = stack.client("dynamodb")
        for logical, name in stack.tables.items():
            table = dynamodb.describe_table(TableName=name)["Table"]
            attributes[f"{logical}.Arn"] = table["TableArn"]
            if "LatestStreamArn" in table:
                attributes[f"{logical}.StreamArn"] = table["LatestStreamArn"]
        overrides = {"AllowedOrigins": ",".join(origins), "LogLevel": options.log_level}
        resolver = Resolver(self.template, physical, attributes, overrides)
        self.functions_environment = {
            name: resolver.environment(self.template, name) for name in functions(self.template)
        }
        merged: dict[str, str] = {}
        for function, variables in self.functions_environment.items():
            for name, value in variables.items():
                if merged.setdefault(name, value) != value:  # one process holds them all: they must agree
                    raise ServeError(f"{name} differs between functions ({function}); serve runs them in one process")
        merged["MODEL_PATH"] = str(Path(options.model).resolve())  # the RulesLayer (/opt/python) is rules/ here
        merged["OUTBOX_DIR"] = str(Path(options.outbox).resolve())
        merged["DYNAMODB_ENDPOINT"] = self.moto_url
        self.environment = merged
        os.environ.update(merged)
        ssm = stack.client("ssm")
        for variable, value in (
            ("TRACKING_SECRET_PARAMETER", stack.secret),
            ("SEGMENT_SERVER_KEYS_PARAMETER", stack.server_write_key),
            ("SEGMENT_BROWSER_KEYS_PARAMETER", stack.browser_write_key),
        ):
            if merged.get(variable):
                ssm.put_parameter(Name=merged[variable], Value=value, Type="SecureString", Overwrite=True)
        if merged.get("SENDER_ADDRESS"):
            stack.client("ses").verify_email_identity(EmailAddress=merged["SENDER_ADDRESS"])
        Path(merged["OUTBOX_DIR"]).mkdir(parents=True, exist_ok=True)
        reset_handlers()
        from ..handlers import runtime

        runtime.model()  # a broken model fails here, with its problems, not on the first request
        self._event_sources(resolver, sqs)

    def _event_sources(self, resolver: Resolver, sqs: Any) -> None:
        resources = self.template["Resources"]
        for trigger in triggers(self.template):
            if trigger.kind == "SQS":
                queue = trigger.properties["Queue"]
                logical = (
                    queue["Fn::GetAtt"][0]
                    if isinstance(queue["Fn::GetAtt"], list)
                    else queue["Fn::GetAtt"].split(".")[0]
                )
                url = resolver.ref(logical)
                redrive = (resources[logical].get("Properties") or {}).get("RedrivePolicy") or {}
                self.queues.append(
                    QueueSource(
                        trigger,
                        str(url),
                        resolver.get_att(f"{logical}.Arn"),
                        int(trigger.properties.get("BatchSize", 10)),
                        int(redrive.get("maxReceiveCount", 0)),
                    )
                )
            elif trigger.kind == "DynamoDB":
                stream = resolver.resolve(trigger.properties["Stream"])
                if stream != resolver.attributes.get("AlertsTable.StreamArn"):
                    raise ServeError(f"{trigger.function}: only the AlertsTable stream is polled by leadscore serve")
                self.streams.append(StreamSource(trigger, int(trigger.properties.get("BatchSize", 100))))
            else:
                expression = str(resolver.resolve(trigger.properties["ScheduleExpression"]))
                zone = str(resolver.resolve(trigger.properties.get("ScheduleExpressionTimezone", "UTC")))
                recurrence = Recurrence(expression, zone)
                recurrence.next_after(time.time())  # an expression serve cannot follow fails at start
                self.schedules.append((trigger, recurrence))
                self._last_fired[trigger.name] = self.clock.now()

    def stop(self) -> str:
        """Stop the gateway, the pollers and moto's server; the one-line summary."""
        self._stop.set()
        if self._gateway is not None:
            self._gateway.__exit__(None, None, None)
        for thread in self._threads:
            thread.join(timeout=self.options.poll_wait_seconds + 10)
        if self._moto is not None:
            self._moto.stop()
        self._restore_environment()
        scoring = self._scoring()
        stream = self.streams[0] if self.streams else None
        return (
            f"leadscore serve stopped after {time.time() - self.started_at:.0f}s: {self.requests} requests, "
            f"{scoring.delivered if scoring else 0} messages scored, {scoring.failed if scoring else 0} failed, "
            f"{stream.delivered if stream else 0} alert records delivered, {len(self.runs)} schedule runs"
        )

    def _restore_environment(self) -> None:
        if self._saved_environment is not None:
            os.environ.clear()
            os.environ.update(self._saved_environment)
            self._saved_environment = None
        reset_handlers()

    def __enter__(self) -> Serve:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # -- calling functions --

    def invoke(self, handler: str, event: dict[str, Any]) -> Any:
        import importlib

        module, _, function = handler.rpartition(".")
        entry = getattr(importlib.import_module(module), function)
        with self.invoke_lock:
            return entry(event, LambdaContext())

    def _scoring(self) -> QueueSource | None:
        return next(
            (source for source in self.queues if source.queue_url == self.environment.get("SCORING_QUEUE_URL")), None
        )

    def _poll_queue(self, source: QueueSource) -> None:
        assert self.stack is not None
        sqs = self.stack.client("sqs")
        while not self._stop.is_set():
            if not self.enabled.is_set():
                self._stop.wait(0.1)
                continue
            try:
                messages = sqs.receive_message(
                    QueueUrl=source.queue_url,
                    MaxNumberOfMessages=source.batch_size,
                    WaitTimeSeconds=self.options.poll_wait_seconds,
                    VisibilityTimeout=60,
                    AttributeNames=["All"],
                ).get("Messages", [])
            except Exception:  # noqa: BLE001 - moto's server stopping under us: the loop ends with it
                if self._stop.wait(0.2):
                    return
                continue
            if not messages:
                if not self.options.poll_wait_seconds:  # short polling (tests): a pause between empty receives
                    self._stop.wait(0.05)
                continue
            source.busy = True
            try:
                self._deliver(sqs, source, messages)
            finally:
                source.busy = False

    def _deliver(self, sqs: Any, source: QueueSource, messages: list[dict[str, Any]]) -> None:
        source.received.extend(message["Body"] for message in messages)
        source.received_total += len(messages)
        try:
            result = self.invoke(source.trigger.handler, sqs_event(messages, source.queue_arn))
            failures = {item["itemIdentifier"] for item in (result or {}).get("batchItemFailures", [])}
        except Exception:  # noqa: BLE001 - the whole batch failed, as Lambda sees an error
            import logging

            logging.getLogger(__name__).exception("%s failed on a batch", source.trigger.handler)
            failures = {message["MessageId"] for message in messages}
        for message in messages:
            if message["MessageId"] not in failures:
                sqs.delete_message(QueueUrl=source.queue_url, ReceiptHandle=message["ReceiptHandle"])
                source.delivered += 1
                continue
            source.failed += 1
            receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            if source.max_receives and receives >= source.max_receives:  # the redrive policy's dead-letter queue
                source.dead_letters.append(message["Body"])
                sqs.delete_message(QueueUrl=source.queue_url, ReceiptHandle=message["ReceiptHandle"])
            else:
                sqs.change_message_visibility(
                    QueueUrl=source.queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=min(receives, 5),
                )

    def _poll_stream(self, stream: StreamSource) -> None:
        assert self.stack is not None
        while not self._stop.is_set():
            if not self.enabled.is_set():
                self._stop.wait(0.1)
                continue
            try:
                stream.busy = True
                found = self.stack.alert_stream_records()
                stream.pending.extend(found)
                stream.found_last_cycle = bool(found)
                while stream.pending and not self._stop.is_set():
                    batch = stream.pending[: stream.batch_size]
                    result = self.invoke(stream.trigger.handler, {"Records": batch})
                    failures = (result or {}).get("batchItemFailures", [])
                    if not failures:
                        stream.delivered += len(batch)
                        del stream.pending[: len(batch)]
                        continue
                    first = next(
                        (
                            i
                            for i, r in enumerate(batch)
                            if r["dynamodb"]["SequenceNumber"] == failures[0]["itemIdentifier"]
                        ),
                        0,
                    )
                    stream.delivered += first
                    stream.retries += 1
                    del stream.pending[:first]
                    break  # retried on the next cycle
            except Exception:  # noqa: BLE001 - retried on the next cycle
                import logging

                logging.getLogger(__name__).exception("%s: stream poll failed", stream.trigger.handler)
            finally:
                stream.busy = False
                stream.cycles += 1
            self._stop.wait(0.2)

    def queue_depth(self, source: QueueSource) -> int:
        assert self.stack is not None
        attributes = self.stack.client("sqs").get_queue_attributes(
            QueueUrl=source.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Until every queue is empty, every poller idle and the alert stream read to its end."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._stop.is_set():
            if any(source.busy or self.queue_depth(source) for source in self.queues):
                time.sleep(0.05)
                continue
            marks = [stream.cycles for stream in self.streams]
            while time.monotonic() < deadline and any(
                stream.cycles < mark + 2 for stream, mark in zip(self.streams, marks, strict=True)
            ):
                time.sleep(0.05)
            settled = all(not stream.pending and not stream.found_last_cycle for stream in self.streams)
            if settled and not any(source.busy or self.queue_depth(source) for source in self.queues):
                return True
        return False

    # -- schedules --

    def _run_schedules(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self.catch_up()
            except Exception:  # noqa: BLE001 - logged, tried again on the next tick
                import logging

                logging.getLogger(__name__).exception("schedule run failed")

    def catch_up(self) -> list[dict[str, Any]]:
        """Run every schedule occurrence between its last run and the clock's now, in order."""
        runs = []
        with self._schedule_lock:
            now = self.clock.now()
            while True:
                due = [
                    (recurrence.next_after(self._last_fired[trigger.name]), trigger, recurrence)
                    for trigger, recurrence in self.schedules
                ]
                due = [
                    (self._collapsed(at, trigger, recurrence, now), trigger)
                    for at, trigger, recurrence in due
                    if at <= now
                ]
                if not due:
                    return runs
                at, trigger = min(due, key=lambda pair: pair[0])
                runs.append(self.run_schedule(trigger, at))
                self._last_fired[trigger.name] = at

    @staticmethod
    def _collapsed(at: float, trigger: Trigger, recurrence: Recurrence, now: float) -> float:
        """A schedule whose input has no time (the rescore check) runs once, at the last of the
        occurrences a jump of the clock skipped: each would find the same."""
        if SCHEDULED_TIME in str(trigger.properties.get("Input") or ""):
            return at
        while (following := recurrence.next_after(at)) <= now:
            at = following
        return at

    def run_schedule(self, trigger: Trigger, at: float) -> dict[str, Any]:
        """One scheduled invocation as EventBridge Scheduler makes it, then everything it queued."""
        started = time.monotonic()
        payload = json.loads(str(trigger.properties.get("Input") or "{}").replace(SCHEDULED_TIME, iso(at)))
        result = self.invoke(trigger.handler, payload)
        idle = self.wait_idle()
        run = {
            "schedule": trigger.name,
            "function": trigger.function,
            "at": iso(at),
            "result": result,
            "settled": idle,
            "seconds": round(time.monotonic() - started, 3),
        }
        self.runs.append(run)
        return run

    def schedule(self, name: str) -> Trigger:
        for trigger, _ in self.schedules:
            if trigger.name.lower() == name.lower():
                return trigger
        raise KeyError(name)

    # -- local-only endpoints --

    def _local(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> Answer | None:
        if path != LOCAL_PREFIX and not path.startswith(LOCAL_PREFIX + "/"):
            self.requests += 1
            return None
        try:
            return self._local_answer(method, path[len(LOCAL_PREFIX) :] or "/", parse_qs(query), body)
        except ServeError as error:
            return _json(409, {"message": str(error)})
        except (ValueError, KeyError) as error:
            return _json(400, {"message": f"{type(error).__name__}: {error}"})

    def _local_answer(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> Answer:
        data = json.loads(body) if body.strip() else {}
        if (method, path) == ("GET", "/"):
            return _json(200, self.describe())
        if (method, path) == ("GET", "/status"):
            return _json(200, self.status())
        if (method, path) == ("POST", "/drain"):
            idle = self.wait_idle(float(query.get("timeout", ["60"])[0]))
            scoring = self._scoring()
            totals = {"delivered": scoring.delivered if scoring else 0, "failed": scoring.failed if scoring else 0}
            answer = {key: totals[key] - self._drained[key] for key in totals}
            self._drained = totals
            return _json(200 if idle else 504, {**answer, "idle": idle})
        if (method, path) == ("GET", "/received"):
            source = self._scoring()
            since = int(query.get("since", ["0"])[0])
            bodies = list(source.received) if source else []
            first = (source.received_total if source else 0) - len(bodies)
            return _json(
                200, {"bodies": [json.loads(b) for b in bodies[max(since - first, 0) :]], "next": first + len(bodies)}
            )
        if (method, path) == ("POST", "/event-sources"):
            (self.enabled.set if data.get("enabled", True) else self.enabled.clear)()
            return _json(200, {"enabled": self.enabled.is_set()})
        if path == "/clock" and method == "GET":
            return _json(200, self._clock_state())
        if path == "/clock" and method == "POST":
            if "advance" in data:
                from ..core.units import duration_seconds

                self.clock.advance(duration_seconds(str(data["advance"])))
            elif "to" in data:
                from ..core.events import parse_timestamp

                self.clock.advance(parse_timestamp(str(data["to"])) - self.clock.now())
            else:
                raise ValueError('send {"advance": "1d"} or {"to": "2026-12-04T07:00:00Z"}')
            return _json(200, {**self._clock_state(), "runs": self.catch_up()})
        match = re.fullmatch(r"/schedule/([A-Za-z0-9_-]+)", path)
        if match and method == "POST":
            try:
                trigger = self.schedule(match.group(1))
            except KeyError:
                return _json(
                    404,
                    {
                        "message": f"no schedule {match.group(1)!r}; template.yaml has {[t.name for t, _ in self.schedules]}"
                    },
                )
            from ..core.events import parse_timestamp

            at = parse_timestamp(query["at"][0]) if "at" in query else self.clock.now()
            with self._schedule_lock:
                return _json(200, self.run_schedule(trigger, at))
        return _json(404, {"message": f"no local endpoint {method} {LOCAL_PREFIX}{path}"})

    def _clock_state(self) -> dict[str, Any]:
        upcoming = {
            trigger.name: iso(recurrence.next_after(self.clock.now())) for trigger, recurrence in self.schedules
        }
        return {
            "mode": self.clock.mode,
            "now": iso(self.clock.now()),
            "offset_seconds": self.clock.offset,
            "next": upcoming,
        }

    def describe(self) -> dict[str, Any]:
        assert self.stack is not None and self._gateway is not None
        return {
            "url": self.url,
            "aws_endpoint_url": self.moto_url,
            "routes": [f"{route.method} {route.path}" for route in self._gateway.routes],
            "tracking_secret": self.stack.secret,
            "server_write_key": self.stack.server_write_key,
            "browser_write_key": self.stack.browser_write_key,
            "outbox": self.environment["OUTBOX_DIR"],
            "model": self.environment["MODEL_PATH"],
            "tables": self.stack.tables,
            "queues": {source.trigger.function: source.queue_url for source in self.queues},
            "environment": self.environment,
            "clock": self._clock_state(),
            "schedules": {trigger.name: recurrence.expression for trigger, recurrence in self.schedules},
        }

    def status(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "event_sources_enabled": self.enabled.is_set(),
            "queues": {
                f"{s.trigger.function}.{s.trigger.name}": {
                    "depth": self.queue_depth(s),
                    "delivered": s.delivered,
                    "failed": s.failed,
                    "dead_letters": len(s.dead_letters),
                }
                for s in self.queues
            },
            "streams": {
                f"{s.trigger.function}.{s.trigger.name}": {
                    "delivered": s.delivered,
                    "pending": len(s.pending),
                    "retries": s.retries,
                }
                for s in self.streams
            },
            "schedule_runs": len(self.runs),
        }

    def banner(self) -> str:
        info = self.describe()
        lines = [
            f"leadscore serve: every function of {self.options.template.name} on {info['url']}",
            f"  AWS stand-in (moto's server): {info['aws_endpoint_url']}  (AWS_ENDPOINT_URL for boto3 and the AWS CLI)",
            "  routes:",
            *(f"    {route}" for route in info["routes"]),
            f"  event sources: {', '.join(f'{s.trigger.function} <- SQS {s.trigger.name} (batches of {s.batch_size})' for s in self.queues)}"
            + "".join(f", {s.trigger.function} <- DynamoDB stream {s.trigger.name}" for s in self.streams),
            f"  schedules ({self.clock.mode} clock, now {info['clock']['now']}): "
            + ", ".join(
                f"{name} {expr} next {info['clock']['next'][name]}" for name, expr in info["schedules"].items()
            ),
            f"  Segment write keys: server {info['server_write_key']}, browser {info['browser_write_key']}",
            f"  tracking secret (HMAC for POST /events): {info['tracking_secret']}",
            f"  allowed origins: {self.environment.get('ALLOWED_ORIGINS', '')}",
            f"  model: {info['model']}   outbox (.eml and .html): {info['outbox']}",
            f"  local only: GET {LOCAL_PREFIX}, GET {LOCAL_PREFIX}/status, POST {LOCAL_PREFIX}/drain, "
            f'POST {LOCAL_PREFIX}/schedule/daily?at=ISO, GET|POST {LOCAL_PREFIX}/clock {{"advance": "1d"}}, '
            f'POST {LOCAL_PREFIX}/event-sources {{"enabled": false}}, GET {LOCAL_PREFIX}/received',
            "  Ctrl-C stops it.",
        ]
        return "\n".join(lines)


def _json(status: int, data: Any) -> Answer:
    return status, [("content-type", "application/json")], json.dumps(data, default=str).encode()


def reset_handlers() -> None:
    """Forget what the handlers built at their cold start (settings, model, clients), as a new deployment would."""
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters import base

    from ..handlers import consumer, forget, leads, notifier, rescore, runtime, schedule

    runtime.reset()
    parameters.clear_caches()
    base.DEFAULT_PROVIDERS.clear()  # their boto3 clients point at the endpoint of their day
    consumer.service.cache_clear()
    leads.service.cache_clear()
    notifier.notifier.cache_clear()
    schedule.walker.cache_clear()
    schedule.reporting.cache_clear()
    rescore.rescoring.cache_clear()
    forget.forgetting.cache_clear()


# --- command line --------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8080, help="the HTTP API's port (default 8080; 0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)")
    parser.add_argument("--model", type=Path, default=ROOT / "rules", help="the scoring model folder (default rules/)")
    parser.add_argument(
        "--outbox", type=Path, default=Path("outbox"), help="where sent mail is written (default outbox/)"
    )
    parser.add_argument(
        "--clock",
        choices=["simulated", "real"],
        default="simulated",
        help="schedules follow the wall clock, plus what POST /_local/clock adds when simulated (default simulated)",
    )
    parser.add_argument("--moto-port", type=int, default=0, help="moto's server port (default: any free port)")
    parser.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a web origin allowed to post (repeatable; default the template's plus this server's own)",
    )
    parser.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def options_from(args: argparse.Namespace) -> ServeOptions:
    return ServeOptions(
        host=args.host,
        port=args.port,
        model=args.model,
        outbox=args.outbox,
        clock=args.clock,
        moto_port=args.moto_port,
        allow_origins=tuple(args.allow_origin),
        log_level=args.log_level,
    )


def run(options: ServeOptions) -> int:
    """Serve until SIGINT or SIGTERM; 0 after a clean stop."""
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    stopping = threading.Event()

    def request_stop(signum: int, frame: Any) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    served = Serve(options)
    try:
        served.start()
    except ServeError as error:
        print(f"leadscore serve: {error}", file=sys.stderr)
        return 2
    try:
        print(served.banner(), flush=True)
        while not stopping.wait(0.5):
            pass
    finally:
        summary = served.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(summary, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="leadscore serve", description=__doc__.splitlines()[0] if __doc__ else None)
    add_arguments(parser)
    return run(options_from(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
