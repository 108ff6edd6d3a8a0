"""template.yaml is linted with the SAM transform expanded, and says what the issue requires."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

from leadscore.local.stack import TABLE_ENV, read_template, table_definitions
from leadscore.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


def cfn_lint(path: Path) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).with_name("cfn-lint")
    return subprocess.run([str(executable), str(path)], capture_output=True, text=True)


def test_template_passes_cfn_lint_with_the_sam_transform():
    result = cfn_lint(TEMPLATE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_really_checks_the_serverless_resources(tmp_path):
    # Given a template whose only fault is inside an AWS::Serverless::Function event
    broken = tmp_path / "template.yaml"
    broken.write_text(TEMPLATE.read_text().replace("Authorizer: AWS_IAM", "Authorizer: NoSuchAuthorizer"))
    # Then linting fails: the SAM resources were expanded and checked, not skipped
    result = cfn_lint(broken)
    assert result.returncode != 0
    assert "NoSuchAuthorizer" in result.stdout


def test_cfn_lint_catches_a_bad_runtime(tmp_path):
    broken = tmp_path / "template.yaml"
    broken.write_text(TEMPLATE.read_text().replace("Runtime: python3.13", "Runtime: python2.1"))
    result = cfn_lint(broken)
    assert result.returncode != 0 and "python2.1" in result.stdout


def test_tables_have_point_in_time_recovery_encryption_and_ttl_where_data_expires():
    resources = read_template()["Resources"]
    tables = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::DynamoDB::Table"}
    assert set(tables) == {
        "LeadsTable",
        "HistoryTable",
        "EventLogTable",
        "AccountsTable",
        "RateLimitTable",
        "AlertsTable",
        "MetricsTable",
    }
    for name, properties in tables.items():
        assert properties["SSESpecification"] == {"SSEEnabled": True}, name
        if name != "RateLimitTable":  # counters of the current minute: nothing worth restoring
            assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, name
    assert tables["EventLogTable"]["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert tables["AlertsTable"]["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}  # feeds the notifier
    assert set(table_definitions(read_template())) == set(tables)


def test_the_scoring_queue_is_fifo_with_a_dead_letter_queue_and_partial_batch_failures():
    resources = read_template()["Resources"]
    queue = resources["ScoringQueue"]["Properties"]
    assert queue["FifoQueue"] is True
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": "ScoringDeadLetterQueue.Arn"}
    source = resources["ScoringFunction"]["Properties"]["Events"]["Queue"]["Properties"]
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    alarm = resources["DeadLetterQueueAlarm"]["Properties"]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"


def _resource_of(resource: object) -> str:
    """The logical id a statement's Resource names (!GetAtt X.Arn, ${X.Arn}/index/*, the SSM parameter)."""
    if isinstance(resource, dict) and set(resource) == {"Fn::GetAtt"}:
        logical, attribute = resource["Fn::GetAtt"].split(".")
        assert attribute == "Arn", resource
        return logical
    if isinstance(resource, dict) and set(resource) == {"Fn::Sub"} and isinstance(resource["Fn::Sub"], str):
        text = resource["Fn::Sub"]
        for parameter in ("TrackingSecret", "SegmentServerKeys", "SegmentBrowserKeys"):
            if text.endswith(f":parameter${{{parameter}ParameterName}}"):
                return f"{parameter}Parameter"
        if text == "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:*":
            return "SES"
        if text.startswith("${") and text.endswith(".Arn}/index/*"):
            return text[2 : -len(".Arn}/index/*")] + "/index/*"
    raise AssertionError(f"a resource the tests cannot attribute: {resource!r}")


def grants(function: str) -> dict[str, set[str]]:
    """Resource (logical id) -> the actions the function's own statements allow on it."""
    found: dict[str, set[str]] = {}
    for policy in read_template()["Resources"][function]["Properties"].get("Policies", []):
        assert isinstance(policy, dict), policy  # no managed policy by name
        for kind, spec in policy.items():
            if kind == "SQSSendMessagePolicy":
                found.setdefault("ScoringQueue", set()).add("sqs:SendMessage*")
                continue
            assert kind == "Statement", f"{function}: SAM policy template {kind} (broader than needed)"
            for statement in spec:
                assert statement["Effect"] == "Allow", statement
                if "Condition" in statement:  # only to pin SES to the one sender identity
                    assert statement["Action"] == "ses:SendRawEmail", statement
                    assert statement["Condition"] == {"StringEquals": {"ses:FromAddress": {"Ref": "SenderAddress"}}}
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                resources = (
                    statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                )
                for resource in resources:
                    found.setdefault(_resource_of(resource), set()).update(actions)
    return found


DATA_TABLES = {"LeadsTable", "HistoryTable", "EventLogTable", "AccountsTable", "AlertsTable", "MetricsTable"}


def test_each_function_gets_only_the_access_it_needs():
    assert grants("FormsFunction") == {
        "ScoringQueue": {"sqs:SendMessage*"},
        "TrackingSecretParameter": {"ssm:GetParameter"},  # to derive the anonymous-id signing key
        "RateLimitTable": {"dynamodb:UpdateItem"},
    }
    assert grants("TrackingFunction") == {
        "ScoringQueue": {"sqs:SendMessage*"},
        "TrackingSecretParameter": {"ssm:GetParameter"},  # signed by servers: no per-source throttle
    }
    assert grants("SegmentFunction") == {
        "ScoringQueue": {"sqs:SendMessage*"},
        "SegmentServerKeysParameter": {"ssm:GetParameter"},
        "SegmentBrowserKeysParameter": {"ssm:GetParameter"},
        "TrackingSecretParameter": {"ssm:GetParameter"},  # a browser links only visitor ids signed from it
        "RateLimitTable": {"dynamodb:UpdateItem"},  # the browser key's per-source throttle
    }
    assert grants("LeadsFunction") == {"LeadsTable": {"dynamodb:GetItem"}, "HistoryTable": {"dynamodb:Query"}}
    assert set(grants("ScoringFunction")) == DATA_TABLES | {
        "AccountsTable/index/*"
    }  # the SQS event source adds its own queue policy


def test_the_consumer_appends_history_and_event_log_and_never_rewrites_them():
    access = grants("ScoringFunction")
    assert access["HistoryTable"] == {"dynamodb:PutItem"}
    assert access["EventLogTable"] == {"dynamodb:PutItem", "dynamodb:Query"}  # Query: anonymous replays
    # the outbox: new alerts only (read by the lead's next save, to find them written); the notifier updates them
    assert access["AlertsTable"] == {"dynamodb:PutItem", "dynamodb:GetItem"}
    # a save's velocity delta, never rewritten; read (GetItem) by the lead's next save, to find it written
    assert access["MetricsTable"] == {"dynamodb:PutItem", "dynamodb:GetItem"}
    for table in ("HistoryTable", "EventLogTable"):
        for forbidden in ("DeleteItem", "Scan", "BatchWriteItem", "UpdateItem"):
            assert f"dynamodb:{forbidden}" not in access[table], (table, forbidden)
    # the per-item actions its save transaction needs, and nothing it does not do
    assert access["LeadsTable"] == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:ConditionCheckItem",
    }
    assert access["AccountsTable"] == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    }
    # an account is read as its summary and its best members: never all of them
    assert access["AccountsTable/index/*"] == {"dynamodb:Query"}


def test_no_function_can_scan_batch_write_or_use_wildcards():
    resources = read_template()["Resources"]
    functions = [name for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"]
    assert set(functions) == {
        "FormsFunction",
        "TrackingFunction",
        "SegmentFunction",
        "LeadsFunction",
        "ScoringFunction",
        "NotifierFunction",
        "ScheduleFunction",
        "ForgetFunction",
        "RescoreFunction",
    }
    for function in functions:
        for resource, actions in grants(function).items():
            for action in actions:
                if (function, resource, action) == ("RescoreFunction", "LeadsTable", "dynamodb:Scan"):
                    continue  # a rescore run walks every lead, a page at a time (the one scan)
                assert action not in {"dynamodb:Scan", "dynamodb:BatchWriteItem"}, (function, resource, action)
                assert not action.endswith(":*") and action != "*", (function, action)
    assert "dynamodb:Scan" not in {action for actions in grants("LeadsFunction").values() for action in actions}
    # a grant on `<table>/index/*` only where that table has an index
    indexed = {
        name
        for name, r in resources.items()
        if r["Type"] == "AWS::DynamoDB::Table"
        and ({"GlobalSecondaryIndexes", "LocalSecondaryIndexes"} & set(r["Properties"]))
    }
    for function in functions:
        for resource in grants(function):
            if resource.endswith("/index/*"):
                assert resource.removesuffix("/index/*") in indexed, (function, resource)


def test_the_notifier_reads_what_an_email_needs_and_sends_only_as_the_sender():
    assert grants("NotifierFunction") == {
        # claim, mark sent or failed; delete one whose lead was erased before it was sent
        "AlertsTable": {"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
        "LeadsTable": {"dynamodb:GetItem"},
        "HistoryTable": {"dynamodb:Query"},
        "EventLogTable": {"dynamodb:Query"},
        "AccountsTable": {"dynamodb:GetItem"},  # the account's summary
        "AccountsTable/index/*": {"dynamodb:Query"},  # its best members, a few
        "SES": {"ses:SendRawEmail"},
        "AlertEventBus": {"events:PutEvents"},
        "AlertDeadLetterQueue": {"sqs:SendMessage"},
    }
    source = read_template()["Resources"]["NotifierFunction"]["Properties"]["Events"]["NewAlerts"]["Properties"]
    assert source["Stream"] == {"Fn::GetAtt": "AlertsTable.StreamArn"}
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": "AlertDeadLetterQueue.Arn"}


def test_the_daily_run_reads_only_the_due_index_and_queues_ticks():
    assert grants("ScheduleFunction") == {
        "LeadsTable/index/*": {"dynamodb:Query"},  # DueIndex: never a scan
        "ScoringQueue": {"sqs:SendMessage"},
        "ScheduleWorkQueue": {"sqs:SendMessage"},
        "MetricsTable": {"dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
        "SES": {"ses:SendRawEmail"},  # the velocity report, as the sender only
    }
    resources = read_template()["Resources"]
    daily = resources["ScheduleFunction"]["Properties"]["Events"]["Daily"]
    assert daily["Type"] == "ScheduleV2"
    assert daily["Properties"]["ScheduleExpressionTimezone"] == {"Ref": "ScheduleTimezone"}
    assert "<aws.scheduler.scheduled-time>" in daily["Properties"]["Input"]  # a retried run keeps its time
    [index] = resources["LeadsTable"]["Properties"]["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "DueIndex" and index["Projection"] == {"ProjectionType": "KEYS_ONLY"}


def test_a_rescore_saves_leads_as_the_consumer_does_and_scans_only_the_leads():
    rescore, consumer = grants("RescoreFunction"), grants("ScoringFunction")
    assert rescore["LeadsTable"] == consumer["LeadsTable"] | {"dynamodb:Scan"}
    for table in ("HistoryTable", "EventLogTable", "AccountsTable", "AccountsTable/index/*", "AlertsTable"):
        assert rescore[table] == consumer[table], table  # the same save: append-only history and log
    assert rescore["MetricsTable"] == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"}  # run cursors
    assert rescore["RescoreQueue"] == {"sqs:SendMessage"}
    resources = read_template()["Resources"]
    events = resources["RescoreFunction"]["Properties"]["Events"]
    assert events["Check"]["Type"] == "ScheduleV2" and events["Work"]["Type"] == "SQS"
    queue = resources["RescoreQueue"]["Properties"]
    assert queue["FifoQueue"] is True and queue["ContentBasedDeduplication"] is False
    assert queue["VisibilityTimeout"] >= 6 * resources["RescoreFunction"]["Properties"]["Timeout"]
    assert events["Work"]["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_the_daily_run_defaults_to_the_shipped_models_report_schedule():
    from leadscore.core.loader import load_model

    default = read_template()["Parameters"]["DailyScheduleExpression"]["Default"]
    assert default == load_model(ROOT / "rules").spec.reports.velocity.schedule


def test_forget_deletes_by_key_and_index_only_and_writes_its_audit_record():
    assert grants("ForgetFunction") == {
        "LeadsTable": {"dynamodb:GetItem", "dynamodb:DeleteItem"},  # the lead and its visitors' aliases
        "HistoryTable": {"dynamodb:Query", "dynamodb:DeleteItem"},
        "EventLogTable": {"dynamodb:Query", "dynamodb:DeleteItem"},
        "AccountsTable": {"dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:UpdateItem"},  # member, summary
        "AlertsTable": {"dynamodb:DeleteItem"},
        "AlertsTable/index/*": {"dynamodb:Query"},  # BySubject: the alerts about the lead, never a scan
        "MetricsTable": {"dynamodb:Query", "dynamodb:DeleteItem", "dynamodb:PutItem"},  # velocity items, audit
        "TrackingSecretParameter": {"ssm:GetParameter"},  # the audit hash key is derived from it
    }
    resources = read_template()["Resources"]
    event = resources["ForgetFunction"]["Properties"]["Events"]["Forget"]["Properties"]
    assert (event["Method"], event["Path"]) == ("DELETE", "/leads/{email}")
    assert event["Auth"] == {"Authorizer": "AWS_IAM"}
    [index] = resources["AlertsTable"]["Properties"]["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "BySubject" and index["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert [key["AttributeName"] for key in index["KeySchema"]] == ["subject", "occurred_at"]


def test_lead_reads_are_not_public():
    resources = read_template()["Resources"]
    event = resources["LeadsFunction"]["Properties"]["Events"]["Read"]["Properties"]
    assert event["Auth"] == {"Authorizer": "AWS_IAM"}


def test_every_function_has_error_and_throttle_alarms():
    resources = read_template()["Resources"]
    functions = [name for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"]
    for function in functions:
        watched = {
            r["Properties"]["MetricName"]
            for r in resources.values()
            if r["Type"] == "AWS::CloudWatch::Alarm"
            and any(d.get("Value") == {"Ref": function} for d in r["Properties"].get("Dimensions", []))
        }
        assert {"Errors", "Throttles"} <= watched, function
    assert any(
        r["Properties"].get("MetricName") == "5xx" for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"
    )


def test_event_retention_is_a_parameter_defaulting_to_13_months():
    parameters = read_template()["Parameters"]
    assert parameters["EventRetentionDays"]["Default"] == 396


def test_openapi_documents_exactly_the_routes_of_the_template():
    import yaml

    from leadscore.core.loader import load_model

    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    documented = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    resources = read_template()["Resources"]
    deployed = {
        (event["Properties"]["Method"], event["Properties"]["Path"])
        for resource in resources.values()
        if resource["Type"] == "AWS::Serverless::Function"
        for event in resource["Properties"].get("Events", {}).values()
        if event["Type"] == "HttpApi"
    }
    # The generated per-form paths are instances of the deployed POST /forms/{formId}, one per
    # form of the shipped model; anything else must be a deployed route, as written.
    assert ("POST", "/forms/{formId}") in deployed
    forms = {("POST", f"/forms/{form_id}") for form_id in load_model(ROOT / "rules").spec.forms}
    assert forms <= documented
    assert documented - forms == deployed


def test_api_access_logs_are_json_lines_in_a_log_group_with_retention():
    template = read_template()
    resources = template["Resources"]
    settings = resources["HttpApi"]["Properties"]["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": "AccessLogGroup.Arn"}
    assert "\n" not in settings["Format"]  # one line per request
    fields = json.loads(settings["Format"])
    assert fields == {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "requestTime": "$context.requestTime",
        "httpMethod": "$context.httpMethod",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "protocol": "$context.protocol",
        "responseLength": "$context.responseLength",
        "integrationErrorMessage": "$context.integrationErrorMessage",
        "userAgent": "$context.identity.userAgent",
    }
    group = resources["AccessLogGroup"]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["RetentionInDays"] == {"Ref": "AccessLogRetentionDays"}
    assert template["Parameters"]["AccessLogRetentionDays"]["Default"] == 90


def test_public_routes_and_the_consumer_have_their_own_reserved_concurrency():
    template = read_template()
    parameters, resources = template["Parameters"], template["Resources"]
    assert parameters["PublicRoutesConcurrency"]["Default"] == 20
    assert parameters["ScoringConcurrency"]["Default"] == 10
    for function in ("FormsFunction", "TrackingFunction", "SegmentFunction"):
        properties = resources[function]["Properties"]
        assert properties["ReservedConcurrentExecutions"] == {"Ref": "PublicRoutesConcurrency"}, function
    scoring = resources["ScoringFunction"]["Properties"]
    assert scoring["ReservedConcurrentExecutions"] == {"Ref": "ScoringConcurrency"}
    # the event source polls no wider than the reserved pool (so SQS waits, nothing is throttled),
    # and MaximumConcurrency accepts 2..1000 only
    scaling = scoring["Events"]["Queue"]["Properties"]["ScalingConfig"]
    assert scaling == {"MaximumConcurrency": {"Ref": "ScoringConcurrency"}}
    assert parameters["ScoringConcurrency"]["MinValue"] >= 2 and parameters["ScoringConcurrency"]["MaxValue"] <= 1000
    assert parameters["PublicRoutesConcurrency"]["MinValue"] >= 1


def test_the_rate_limit_table_expires_its_counters_and_reaches_the_functions():
    template = read_template()
    table = template["Resources"]["RateLimitTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "key", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "key", "AttributeType": "S"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["SSESpecification"] == {"SSEEnabled": True}
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["RATE_LIMIT_TABLE"] == {"Ref": "RateLimitTable"}
    for name, resource in template["Resources"].items():  # no function overrides it
        if resource["Type"] == "AWS::Serverless::Function":
            own = resource["Properties"].get("Environment", {}).get("Variables", {})
            assert "RATE_LIMIT_TABLE" not in own, name
    assert Settings.from_env(env={"RATE_LIMIT_TABLE": "t"}).rate_limit_table == "t"


def test_every_table_reaches_the_functions_and_the_local_stack_under_one_name():
    template = read_template()
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    tables = set(table_definitions(template))
    assert set(TABLE_ENV) == tables
    for logical, variable in TABLE_ENV.items():
        assert variables[variable] == {"Ref": logical}, logical
        assert variable.lower() in {field.name for field in fields(Settings)}, variable


def test_the_segment_api_reads_its_write_keys_from_parameters_only_it_sees():
    template = read_template()
    parameters, resources = template["Parameters"], template["Resources"]
    for name in ("SegmentServerKeysParameterName", "SegmentBrowserKeysParameterName"):
        assert parameters[name]["Type"] == "String" and parameters[name]["Default"].startswith("/"), name
    own = resources["SegmentFunction"]["Properties"]["Environment"]["Variables"]
    assert own == {
        "SEGMENT_SERVER_KEYS_PARAMETER": {"Ref": "SegmentServerKeysParameterName"},
        "SEGMENT_BROWSER_KEYS_PARAMETER": {"Ref": "SegmentBrowserKeysParameterName"},
    }
    assert not {"SEGMENT_SERVER_KEYS_PARAMETER", "SEGMENT_BROWSER_KEYS_PARAMETER"} & set(
        template["Globals"]["Function"]["Environment"]["Variables"]
    )
    for variable in own:
        assert variable.lower() in {field.name for field in fields(Settings)}, variable
    # SDKs send Basic auth and gzip: a browser's preflight must allow both headers
    cors = resources["HttpApi"]["Properties"]["CorsConfiguration"]
    assert {"authorization", "content-encoding"} <= set(cors["AllowHeaders"])
    assert cors["AllowOrigins"] == {"Ref": "AllowedOrigins"}  # the browser key's origin allow-list too


def test_every_function_built_by_the_makefile_has_a_target_in_it():
    import re

    makefile = (ROOT / "functions" / "Makefile").read_text()
    listed = re.search(r"^FUNCTIONS := ((?:.*\\\n)*.*)$", makefile, re.MULTILINE)
    assert listed is not None
    targets = set(listed.group(1).replace("\\\n", " ").split())
    resources = read_template()["Resources"]
    built = {
        name
        for name, r in resources.items()
        if r["Type"] == "AWS::Serverless::Function" and r.get("Metadata", {}).get("BuildMethod") == "makefile"
    }
    assert built and built == targets  # `sam build` fails on a function without its build-<Name> target


def test_the_stored_json_format_is_a_parameter_every_function_reads():
    from leadscore.adapters.packing import DICTIONARIES

    template = read_template()
    parameter = template["Parameters"]["StoredJsonDictionary"]
    assert parameter["Default"] == "v1" and set(parameter["AllowedValues"]) == set(DICTIONARIES)
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["STORED_JSON_DICTIONARY"] == {"Ref": "StoredJsonDictionary"}
    assert Settings.from_env(env={"STORED_JSON_DICTIONARY": "none"}).stored_json_dictionary == "none"
    assert Settings.from_env(env={}).stored_json_dictionary == "v1"


def test_where_new_accounts_keep_their_members_is_a_parameter_every_function_reads():
    template = read_template()
    parameter = template["Parameters"]["AccountMembers"]
    assert parameter["Default"] == "inline" and set(parameter["AllowedValues"]) == {"inline", "items"}
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["ACCOUNT_MEMBERS"] == {"Ref": "AccountMembers"}
    assert Settings.from_env(env={"ACCOUNT_MEMBERS": "items"}).account_members == "items"
    assert Settings.from_env(env={}).account_members == "inline"
