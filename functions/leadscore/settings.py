"""Environment parsed once per cold start into typed settings; a missing variable fails loudly."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path

_DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "rules"  # the repository's rules/ when run from source


class SettingsError(RuntimeError):
    pass


@dataclass(frozen=True)
class Settings:
    leads_table: str = ""
    history_table: str = ""
    event_log_table: str = ""
    accounts_table: str = ""
    rate_limit_table: str = ""  # public routes' request counters; not part of STORAGE (scoring)
    alerts_table: str = ""  # the alert outbox, written right after the lead's save
    metrics_table: str = ""  # velocity figures: per-save deltas, daily aggregates and snapshots
    sender_address: str = ""  # the SES-verified identity alerts are sent from
    ses_configuration_set: str = ""  # SES configuration set (event publishing, suppression); optional
    crm_url_template: str = ""  # e.g. https://crm.example.com/search?q={subject}; optional
    event_bus_name: str = ""  # EventBridge bus for LeadQualified & co.; optional
    alert_dead_letter_queue_url: str = ""  # where an alert rests once SES refused it for good
    outbox_dir: str = ""  # local runs: a copy of every sent email (.eml and .html)
    schedule_work_queue_url: str = ""  # the daily run's work items (a page of due leads each)
    scoring_queue_url: str = ""
    rescore_queue_url: str = ""  # a rescore run's work items (a page of one scan segment each)
    tracking_secret_parameter: str = ""
    segment_server_keys_parameter: str = ""  # SSM SecureString: the Segment server write keys, one a line
    segment_browser_keys_parameter: str = ""  # SSM SecureString: the public browser write keys; optional
    event_retention_days: int = 396
    history_retention_days: int = 0
    stored_json_dictionary: str = "v1"  # how state and history are compressed when written ("none": plain zlib)
    account_members: str = "inline"  # where a new account keeps its members ("items": one item each, as before)
    allowed_origins: tuple[str, ...] = ()
    model_path: str = str(_DEFAULT_MODEL)
    dynamodb_endpoint: str | None = None  # DynamoDB Local in tests; None on AWS
    region: str = "eu-west-1"

    @classmethod
    def from_env(cls, required: Iterable[str] = (), env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        names = {f.name: f.name.upper() for f in fields(cls)}
        missing = [names[name] for name in required if not env.get(names[name])]
        if missing:
            raise SettingsError(f"missing environment variable(s): {', '.join(missing)}")
        values: dict[str, object] = {}
        for name, variable in names.items():
            if variable not in env or env[variable] == "":
                continue
            raw = env[variable]
            if name.endswith("_days"):
                try:
                    values[name] = int(raw)
                except ValueError:
                    raise SettingsError(f"{variable} must be a whole number of days, not {raw!r}") from None
            elif name == "allowed_origins":
                values[name] = tuple(origin.strip() for origin in raw.split(",") if origin.strip())
            else:
                values[name] = raw
        if "region" not in values:
            values["region"] = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or cls.region
        return cls(**values)  # type: ignore[arg-type]


STORAGE = ("leads_table", "history_table", "event_log_table", "accounts_table", "alerts_table", "metrics_table")
