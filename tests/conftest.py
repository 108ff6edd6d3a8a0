"""Fake AWS credentials before any boto3 client exists: no test can ever reach a real account."""

import os

os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_SESSION_TOKEN"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "eu-west-1"
os.environ["AWS_REGION"] = "eu-west-1"
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "leadscore")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # EMF lines would flood the output

import moto  # noqa: E402,F401 - imported first so its patches are in place before boto3 clients
