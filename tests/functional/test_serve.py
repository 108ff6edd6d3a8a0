"""`leadscore serve`: every function of template.yaml on moto's server, driven over HTTP like a site would.

One serve for the module (its model decays after a minute of silence, so a day on the simulated
clock decays a quiet lead); the SIGINT test runs its own, as a separate process.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from leadscore.local.serve import Serve, ServeOptions
from leadscore.local.stack import ROOT, signed_headers

FORM = (
    "email={email}&first_name=Ingrid&company=Nordkraft&job_title=Head+of+Data+Platforms&country=NO&employees=3200"
    "&budget=over_50k&authority=decision_maker&need=solution_needed&timing=this_quarter&website="
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    folder = tmp_path_factory.mktemp("serve")
    shutil.copytree(ROOT / "rules", folder / "rules")
    model = folder / "rules" / "model.yaml"
    text = model.read_text()
    assert "after_inactive: 30d" in text
    model.write_text(text.replace("after_inactive: 30d", "after_inactive: 1m").replace("every: 7d", "every: 1d"))
    options = ServeOptions(port=0, model=folder / "rules", outbox=folder / "outbox", poll_wait_seconds=0)
    with Serve(options) as running:
        yield running


def lead(served: Serve, email: str, deadline: float = 20.0) -> dict[str, Any]:
    """The stored lead, polled until the background consumer has scored it."""
    until = time.monotonic() + deadline
    while True:
        response = requests.get(f"{served.url}/leads/{email}", timeout=10)
        if response.status_code == 200:
            return response.json()
        assert time.monotonic() < until, f"{email} never scored: {response.status_code} {response.text}"
        time.sleep(0.1)


def post_form(served: Serve, email: str) -> requests.Response:
    return requests.post(
        served.url + "/forms/contact-sales",
        data=FORM.format(email=email.replace("@", "%40")),
        headers={"content-type": "application/x-www-form-urlencoded"},
        timeout=10,
    )


def post_events(served: Serve, events: list[dict[str, Any]]) -> requests.Response:
    body = json.dumps({"batch": events}).encode()
    assert served.stack is not None
    return requests.post(
        served.url + "/events", data=body, headers=signed_headers(served.stack.secret, body, int(time.time())), timeout=10
    )


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def drain(served: Serve) -> dict[str, Any]:
    answer = requests.post(served.url + "/_local/drain", timeout=90).json()
    assert answer["idle"] is True
    return answer


def test_it_serves_the_templates_routes_and_says_how_to_use_them(served):
    info = requests.get(served.url + "/_local", timeout=10).json()
    assert {"POST /forms/{formId}", "POST /events", "POST /v1/batch", "GET /leads/{email}"} <= set(info["routes"])
    assert info["server_write_key"] and info["tracking_secret"] and info["outbox"].endswith("outbox")
    assert info["environment"]["SCORING_QUEUE_URL"] == info["queues"]["ScoringFunction"]  # resolved from the template
    assert info["schedules"] == {"Daily": "cron(0 7 * * ? *)", "Check": "rate(5 minutes)"}  # the rescore check
    assert "Ctrl-C" in served.banner() and served.url in served.banner()
    assert requests.get(served.url + "/_local/nothing", timeout=10).status_code == 404
    assert requests.get(served.url + "/not-a-route", timeout=10).status_code == 404


def test_a_form_post_and_a_tracking_post_are_scored_by_the_polling_consumer(served):
    # Given a form post and a signed tracking batch for the same lead
    assert post_form(served, "ingrid@nordkraft.example").status_code == 202
    events = [{"id": "t-1", "type": "webinar_attend", "email": "ingrid@nordkraft.example", "timestamp": now_iso()}]
    response = post_events(served, events)
    assert response.status_code == 202 and response.json()["accepted"] == 1
    # Then the consumer, polling the queue in the background, scores both without being asked
    until = time.monotonic() + 20
    while "webinar-attended" not in (scored := lead(served, "ingrid@nordkraft.example"))["breakdown"]:
        assert time.monotonic() < until
        time.sleep(0.1)
    assert scored["breakdown"]["contact-sales-form"] == 25


def test_an_alert_email_lands_in_the_outbox(served):
    email = "hot@nordkraft.example"
    assert post_form(served, email).status_code == 202
    events = [
        {"id": "h-1", "type": "demo_request", "email": email, "timestamp": now_iso()},
        {"id": "h-2", "type": "trial_start", "email": email, "timestamp": now_iso()},
    ]
    assert post_events(served, events).status_code == 202
    drain(served)
    assert lead(served, email)["score"] >= 100
    outbox = Path(served.environment["OUTBOX_DIR"])
    mails = [path.read_text(errors="replace") for path in outbox.glob("*.eml")]
    assert any("hot@nordkraft.example" in mail for mail in mails)
    assert list(outbox.glob("*.html"))


def test_the_daily_schedule_runs_on_demand(served):
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    response = requests.post(served.url + "/_local/schedule/daily", params={"at": at}, timeout=120)
    assert response.status_code == 200, response.text
    run = response.json()
    assert run["at"] == at and run["settled"] is True and run["result"]["started"] == 16  # one work item per shard
    assert requests.post(served.url + "/_local/schedule/weekly", timeout=10).status_code == 404


def test_advancing_the_simulated_clock_a_day_decays_a_quiet_lead(served):
    # Given a lead that then goes quiet (this model decays after a minute without activity)
    events = [{"id": "q-1", "type": "webinar_attend", "email": "quiet@havn.example", "timestamp": now_iso()}]
    assert post_events(served, events).status_code == 202
    drain(served)
    before = lead(served, "quiet@havn.example")["score"]
    time.sleep(1)
    # When the simulated clock moves a day on: the daily run at 07:00 happens on the way
    response = requests.post(served.url + "/_local/clock", json={"advance": "1d"}, timeout=180)
    assert response.status_code == 200, response.text
    moved = response.json()
    # (and the rescore check, once for the 288 five-minute slots the jump skipped: no model change)
    assert [run["schedule"] for run in moved["runs"]] == ["Daily", "Check"]
    # Then the lead decayed, by the daily run's own tick
    after = lead(served, "quiet@havn.example")
    assert after["score"] < before
    assert after["recent_changes"][0]["event_type"] == "decay"


def test_a_real_clock_cannot_be_moved(tmp_path):
    with Serve(ServeOptions(port=0, clock="real", outbox=tmp_path, poll_wait_seconds=0)) as real:
        response = requests.post(real.url + "/_local/clock", json={"advance": "1d"}, timeout=10)
        assert response.status_code == 409 and "simulated" in response.json()["message"]


def test_sigint_stops_it_cleanly_with_a_summary(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "leadscore.local.serve", "--port", "0", "--outbox", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    assert process.stdout is not None
    printed = []
    for line in process.stdout:
        printed.append(line)
        if "Ctrl-C stops it" in line:
            break
    banner = "".join(printed)
    assert "POST /forms/{formId}" in banner and "local-server-write-key" in banner and str(tmp_path) in banner
    url = next(word for word in banner.split() if word.startswith("http://127.0.0.1:"))
    assert requests.post(url + "/forms/nps-survey", data="email=a%40b.example&nps=9&website=", headers={"content-type": "application/x-www-form-urlencoded"}, timeout=10).status_code == 202
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=60)
    assert process.returncode == 0, rest
    assert rest.strip().splitlines()[-1].startswith("leadscore serve stopped after")
    assert "Traceback" not in rest
