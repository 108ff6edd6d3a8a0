"""template.yaml is linted with the SAM transform expanded, and says what the issue requires."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from leadscore.local.stack import read_template, table_definitions

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
    assert set(tables) == {"LeadsTable", "HistoryTable", "EventLogTable", "AccountsTable"}
    for name, properties in tables.items():
        assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, name
        assert properties["SSESpecification"] == {"SSEEnabled": True}, name
    assert tables["EventLogTable"]["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
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


def test_each_function_gets_only_the_access_it_needs():
    resources = read_template()["Resources"]

    def tables_of(function: str) -> set[str]:
        found = set()
        for policy in resources[function]["Properties"].get("Policies", []):
            for kind, spec in policy.items() if isinstance(policy, dict) else []:
                if kind.startswith("DynamoDB"):
                    found.add(spec["TableName"]["Ref"])
        return found

    assert tables_of("FormsFunction") == set() and tables_of("TrackingFunction") == set()
    assert tables_of("LeadsFunction") == {"LeadsTable", "HistoryTable"}
    assert tables_of("ScoringFunction") == {"LeadsTable", "HistoryTable", "EventLogTable", "AccountsTable"}
    leads_policies = resources["LeadsFunction"]["Properties"]["Policies"]
    assert all("DynamoDBReadPolicy" in policy for policy in leads_policies)


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
    assert documented == deployed
