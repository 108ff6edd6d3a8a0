"""scripts/pr_check.py and .github/workflows/scoring-model.yml: the pull-request check of the scoring model.

A git repository in tmp_path holds the project's model (base on main, the change on a branch), and a fake
GitHub API on 127.0.0.1 records every request: one comment with the marker is posted, then patched on the
next push, found on any page of the comments; a broken model fails with a comment naming the file and line.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from leadscore.cli.export import Pseudonymiser, model_domains
from leadscore.core.loader import load_model

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "pr_check.py"
WORKFLOW = ROOT / ".github" / "workflows" / "scoring-model.yml"
SAMPLE = "events/sample-traffic.jsonl"
MARKER = "<!-- leadscore-pr-check -->"
TOKEN = "ghs_test_token_" + uuid.uuid4().hex[:8]
KEY = "pr-check-test-key"
REPOSITORY = "fjordline/leadscore"
PR = 42
GIT = ["git", "-c", "user.name=PR Check Test", "-c", "user.email=pr-check@test.invalid", "-c", "commit.gpgsign=false"]

# the change under review: the pricing page and the e-books are worth more
PRICING = ('    when: {event: page_view, url: ["*/pricing", "*/pricing/*"]}\n    readiness: 10%', "readiness: 20%")
EBOOK = ('    when: {event: download, asset: "ebook-*"}\n    readiness: 5%', "readiness: 25%")
# the next push: the score alert needs 200 points
LEAD_ALERT = ("  lead:\n    threshold: 100", "threshold: 200")
# a broken edit: an event type that does not exist
TYPO = ('when: {event: download, asset: "whitepaper-*"}', 'when: {event: dowload, asset: "whitepaper-*"}')


def _load_script() -> ModuleType:
    name = f"leadscore_pr_check_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


pr_check = _load_script()


# --- a fake GitHub API ------------------------------------------------------------------------------------


class FakeGitHub:
    """Issue comments of one pull request, paginated as GitHub does (per_page, page, Link: rel="next")."""

    def __init__(self) -> None:
        self.comments: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.next_id = 1000
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet test output
                pass

            def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                with fake.lock:
                    fake.requests.append(
                        {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                    )
                    status, reply, headers = fake.route(self.command, self.path, self.headers, body)
                self._reply(status, reply, headers)

            do_GET = do_POST = do_PATCH = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def add(self, body: str, login: str = "someone") -> dict[str, Any]:
        self.next_id += 1
        comment = {"id": self.next_id, "body": body, "user": {"login": login}}
        self.comments.append(comment)
        return comment

    def route(self, method: str, path: str, headers: Any, body: Any) -> tuple[int, Any, dict[str, str]]:
        if headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, {"message": "Bad credentials"}, {}
        parts = urlsplit(path)
        listing = f"/repos/{REPOSITORY}/issues/{PR}/comments"
        if method == "GET" and parts.path == listing:
            query = parse_qs(parts.query)
            per_page = int(query.get("per_page", ["30"])[0])
            page = int(query.get("page", ["1"])[0])
            items = self.comments[(page - 1) * per_page : page * per_page]
            link = {}
            if page * per_page < len(self.comments):
                link["Link"] = f'<{self.url}{listing}?per_page={per_page}&page={page + 1}>; rel="next"'
            return 200, items, link
        if method == "POST" and parts.path == listing:
            return 201, self.add(body["body"], "github-actions[bot]"), {}
        prefix = f"/repos/{REPOSITORY}/issues/comments/"
        if method == "PATCH" and parts.path.startswith(prefix):
            wanted = int(parts.path.removeprefix(prefix))
            for comment in self.comments:
                if comment["id"] == wanted:
                    comment["body"] = body["body"]
                    return 200, comment, {}
        return 404, {"message": "Not Found"}, {}

    def calls(self) -> list[tuple[str, str]]:
        return [(request["method"], request["path"]) for request in self.requests]


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    fake.thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()


# --- a repository with a pull request -------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    return subprocess.run([*GIT, "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


def edit(repo: Path, file: str, old: str, replacement: str) -> int:
    """Replace the last line of `old` with `replacement` (indentation kept); return the edited line number."""
    path = repo / "rules" / file
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    head, _, last = old.rpartition("\n")
    indent = last[: len(last) - len(last.lstrip())] if head else ""
    new = f"{head}\n{indent}{replacement}" if head else replacement
    path.write_text(text.replace(old, new), encoding="utf-8")
    return text[: text.index(old)].count("\n") + old.count("\n") + 1


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """main holds the shipped model (also as origin/main, as after checkout with fetch-depth 0); the
    branch `pricing-weights` changes two rules."""
    path = tmp_path / f"repo-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    shutil.copytree(ROOT / "rules", path / "rules")
    (path / "events").mkdir()
    shutil.copy(ROOT / SAMPLE, path / SAMPLE)
    (path / "scripts").mkdir()
    shutil.copy(SCRIPT, path / "scripts" / "pr_check.py")
    commit(path, "base model")
    git(path, "update-ref", "refs/remotes/origin/main", "main")
    git(path, "checkout", "-q", "-b", "pricing-weights")
    edit(path, "behaviour.yaml", *PRICING)
    edit(path, "behaviour.yaml", *EBOOK)
    commit(path, "pricing page and e-books are worth more")
    return path


def event_file(tmp_path: Path, head_sha: str = "") -> Path:
    path = tmp_path / f"event-{uuid.uuid4().hex[:8]}.json"
    pull = {
        "number": PR,
        "head": {"sha": head_sha, "repo": {"full_name": REPOSITORY}},
        "base": {"ref": "main", "repo": {"full_name": REPOSITORY}},
    }
    path.write_text(json.dumps({"action": "synchronize", "number": PR, "pull_request": pull}), encoding="utf-8")
    return path


def clean_env() -> dict[str, str]:
    """The process environment without anything of a real CI run (its token, job summary, pull request)."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GITHUB_", "RUNNER_", "LEADSCORE_")) and key not in ("CI",)
    }


def github_env(github: FakeGitHub, event: Path) -> dict[str, str]:
    return {
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_API_URL": github.url,
        "GITHUB_EVENT_PATH": str(event),
    }


@pytest.fixture
def in_repo(repo: Path, github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The script's main() called in-process from the repository, with the fake API's settings."""
    for key in list(os.environ):
        if key.startswith(("GITHUB_", "RUNNER_", "LEADSCORE_")):
            monkeypatch.delenv(key)
    for key, value in github_env(github, event_file(tmp_path)).items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(repo)
    return repo


def run_main(*extra: str) -> int:
    return pr_check.main(["--base", "origin/main", "--events", SAMPLE, "--key", KEY, *extra])


def pseudonym(address: str) -> str:
    kept, field = model_domains(ROOT / "rules")
    return Pseudonymiser(KEY.encode(), kept, field).email(address)


def sample_addresses() -> set[str]:
    lines = (ROOT / SAMPLE).read_text(encoding="utf-8").splitlines()
    return {json.loads(line)["email"] for line in lines if line.strip() and "@" in json.loads(line).get("email", "")}


# --- the workflow, run step by step ------------------------------------------------------------------------


def workflow() -> dict[str, Any]:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def step(name: str) -> dict[str, Any]:
    steps = workflow()["jobs"]["check"]["steps"]
    found = [item for item in steps if item.get("name") == name]
    assert len(found) == 1, f"one step named {name!r}"
    return found[0]


def run_step(name: str, repo: Path, env: dict[str, str], values: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A `run:` step with bash as the runner runs it; `values` stand for the step's `${{ }}` expressions."""
    item = step(name)
    step_env = {key: values[key] for key in item.get("env", {})}  # a KeyError names an unmapped expression
    top = {key: value for key, value in workflow()["env"].items() if "${{" not in str(value)}
    top |= {key: values[key] for key, value in workflow()["env"].items() if "${{" in str(value)}
    bin_dir = str(Path(sys.executable).parent)  # `python` and `leadscore` as after `pip install .`
    full = clean_env() | env | top | step_env | {"PATH": bin_dir + os.pathsep + os.environ["PATH"]}
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", item["run"]], cwd=repo, env=full, capture_output=True, text=True
    )


def test_the_workflow_steps_post_one_comment_with_the_leads_distribution_and_alerts(repo, github, tmp_path):
    # Given the pull request's branch checked out, no S3 sample configured, and the fake API
    head = git(repo, "rev-parse", "HEAD")
    outputs = tmp_path / f"output-{uuid.uuid4().hex[:8]}"
    outputs.touch()
    env = github_env(github, event_file(tmp_path, head)) | {"GITHUB_OUTPUT": str(outputs), "RUNNER_TEMP": str(tmp_path)}
    values = {"LEADSCORE_SAMPLE_URI": "", "USE_S3": "false", "GITHUB_TOKEN": TOKEN, "BASE_REF": "main"}
    values["LEADSCORE_PSEUDONYMISE_KEY"] = KEY
    # When the workflow's steps run: validate, pick the sample, diff and comment (the script as a subprocess)
    validated = run_step("Validate (strict)", repo, env, values)
    assert validated.returncode == 0, validated.stderr
    sample = run_step("Events sample", repo, env, values)
    assert sample.returncode == 0, sample.stderr
    picked = dict(line.split("=", 1) for line in outputs.read_text(encoding="utf-8").splitlines())
    assert picked == {"file": SAMPLE, "label": f"{SAMPLE} (committed sample)"}
    values |= {"SAMPLE_FILE": picked["file"], "SAMPLE_LABEL": picked["label"]}
    done = run_step("Diff against the base branch and comment", repo, env, values)
    # Then one comment is posted, after reading the (empty) list of comments
    assert done.returncode == 0, done.stderr
    assert github.calls() == [
        ("GET", f"/repos/{REPOSITORY}/issues/{PR}/comments?per_page=100"),
        ("POST", f"/repos/{REPOSITORY}/issues/{PR}/comments"),
    ]
    assert all(request["headers"]["Authorization"] == f"Bearer {TOKEN}" for request in github.requests)
    assert github.requests[1]["headers"]["Accept"] == "application/vnd.github+json"
    assert len(github.comments) == 1
    body = github.comments[0]["body"]
    assert body.startswith(MARKER + "\n## ✅ Lead scoring model check\n")
    base_version = load_model(ROOT / "rules").version
    head_version = load_model(repo / "rules").version
    assert base_version != head_version
    assert f"- **Model version**: `{base_version}` (`origin/main`) → `{head_version}` (this pull request)" in body
    assert "(`leadscore validate --strict rules`): ok, " in body and "no warnings" in body
    assert f"`{SAMPLE} (committed sample)`: 72 events, 10 leads replayed" in body
    lines = body.splitlines()
    # the two leads that change stage, pseudonymised (the model names nordkraft.no, so it stays)
    lars, mike = pseudonym("lars.berg@nordkraft.no"), pseudonym("mike.olsen@gmail.com")
    assert lars.endswith("@nordkraft.no") and mike.endswith("@gmail.com") and lars.startswith("lead-")
    table = lines[lines.index("### Leads that change stage or qualification (2)") + 2 :]
    assert table[:4] == [
        "| lead | account | score | stage | qualified | rules responsible |",
        "|---|---|---|---|---|---|",
        f"| `{mike}` | - | 21 → 41 (+20) | awareness → **consideration** | no | ebook-download 5 → 25 |",
        f"| `{lars}` | `nordkraft.no` | 95 → 105 (+10) | decision → **sales_ready** | **newly qualified** "
        "| pricing-page 10 → 20 |",
    ]
    assert "Qualified = score ≥ 100. 3 other lead(s) change score only; 5 of 10 leads do not change." in lines
    distribution = lines[lines.index("### Score distribution") + 2 :]
    assert distribution[:8] == [
        "|  | before | after | change |",
        "|---|---|---|---|",
        "| leads | 10 | 10 | 0 |",
        "| min | 0 | 0 | 0 |",
        "| median | 42.15 | 44 | +1.85 |",
        "| p90 | 175 | 185 | +10 |",
        "| max | 230 | 260 | +30 |",
        "| score < 25 | 4 | 3 | -1 |",
    ]
    assert "| score ≥ 100 | 2 | 3 | +1 |" in distribution
    assert "| in decision | 1 | 0 | -1 |" in distribution and "| in sales_ready | 2 | 3 | +1 |" in distribution
    accounts = lines[lines.index("### Accounts whose score changes (3)") + 2 :]
    assert accounts[2] == "| `nordkraft.no` | 112.67 | 126 | +13.33 | 3 |"
    alerts = lines[lines.index("### Alerts that would newly fire (1)") + 2 :]
    assert alerts[2] == f"| lead | lead_score | `{lars}` | 2026-11-08T11:00:00Z | 105 | 100 | 1 |"
    assert "### Alerts that would no longer fire (0)" in lines
    assert f"Updated for commit {head[:12]}." in body
    # no raw address or private domain of the sample reaches the comment
    for address in sample_addresses():
        assert address not in body
    assert "havnelogistik.dk" not in body and "brusselsteel.be" not in body


def test_the_next_push_patches_the_same_comment(in_repo, github):
    # Given the first run's comment
    assert run_main() == 0
    assert [method for method, _ in github.calls()] == ["GET", "POST"]
    first = github.comments[0]["body"]
    # When another commit raises the score alert to 200 and the check runs again
    edit(in_repo, "model.yaml", *LEAD_ALERT)
    head = commit(in_repo, "the score alert needs 200 points")
    assert run_main() == 0
    # Then the same comment is patched, and no second one is posted
    assert [method for method, _ in github.calls()] == ["GET", "POST", "GET", "PATCH"]
    assert github.requests[-1]["path"] == f"/repos/{REPOSITORY}/issues/comments/{github.comments[0]['id']}"
    assert len(github.comments) == 1
    body = github.comments[0]["body"]
    assert body != first and body.startswith(MARKER)
    assert f"Updated for commit {head[:12]}." in body
    lines = body.splitlines()
    assert "### Alerts that would newly fire (0)" in lines
    gone = lines[lines.index("### Alerts that would no longer fire (1)") + 2 :]
    sofie = pseudonym("sofie.jensen@havnelogistik.dk")
    assert gone[2] == f"| lead | lead_score | `{sofie}` | 2026-10-28T11:00:00Z | 113 | 100 | 1 |"


def test_the_marker_comment_is_found_on_the_second_page(in_repo, github):
    # Given 130 comments, the check's own at position 121 (page 2 of 100)
    for number in range(130):
        if number == 120:
            ours = github.add(f"{MARKER}\n## old check", "github-actions[bot]")
        else:
            github.add(f"review comment {number}")
    # When the check runs
    assert run_main() == 0
    # Then it reads both pages and patches its comment there
    assert github.calls() == [
        ("GET", f"/repos/{REPOSITORY}/issues/{PR}/comments?per_page=100"),
        ("GET", f"/repos/{REPOSITORY}/issues/{PR}/comments?per_page=100&page=2"),
        ("PATCH", f"/repos/{REPOSITORY}/issues/comments/{ours['id']}"),
    ]
    assert len(github.comments) == 130
    assert ours["body"].startswith(MARKER + "\n## ✅ Lead scoring model check")
    assert [c["body"] for c in github.comments if c is not ours] == [
        f"review comment {n}" for n in range(130) if n != 120
    ]


def test_a_broken_model_fails_and_the_comment_names_the_file_and_line(in_repo, github, capsys):
    # Given a commit with a typo in an event type
    line = edit(in_repo, "behaviour.yaml", *TYPO)
    commit(in_repo, "typo")
    # When the check runs
    code = run_main()
    # Then it fails, and still posts a comment saying where and why
    assert code == 1
    assert [method for method, _ in github.calls()] == ["GET", "POST"]
    body = github.comments[0]["body"]
    assert body.startswith(MARKER + "\n## ❌ Lead scoring model check\n")
    assert "1 problem(s); the model does not load, so nothing was scored:" in body
    assert (
        f"rules/behaviour.yaml:{line}:19: rule whitepaper-download: when.event: unknown event type 'dowload' "
        "(did you mean 'download'?)"
    ) in body
    assert "→ does not load (this pull request)" in body
    assert "### Leads that change stage" not in body


def test_a_warning_fails_the_strict_check_but_the_diff_is_still_shown(in_repo, github, monkeypatch, capsys):
    # Given a stray file in the model folder (a warning, not an error), in a GitHub Actions run
    (in_repo / "rules" / "notes.txt").write_text("ideas for later\n", encoding="utf-8")
    commit(in_repo, "notes")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    # When the check runs
    code = run_main()
    # Then it fails, names the file and line in the comment and as an annotation, and still compares
    assert code == 1
    body = github.comments[0]["body"]
    assert "1 warning(s); the model loads, but the check is strict" in body
    assert "rules/notes.txt:1:1: warning: not a model file (only .yaml and .yml files are read); skipped" in body
    assert "### Leads that change stage or qualification (2)" in body
    out = capsys.readouterr().out
    assert "::warning file=rules/notes.txt,line=1,col=1::not a model file" in out


def test_dry_run_and_output_do_not_post(in_repo, github, capsys, tmp_path):
    # When the comment is only printed, or written with plain names and one row per table
    assert run_main("--dry-run") == 0
    printed = capsys.readouterr().out
    target = tmp_path / f"comment-{uuid.uuid4().hex[:8]}.md"
    assert run_main("--output", str(target), "--names", "plain", "--max-rows", "1") == 0
    # Then nothing reaches the API
    assert github.requests == []
    assert printed.startswith(MARKER) and pseudonym("lars.berg@nordkraft.no") in printed
    written = target.read_text(encoding="utf-8")
    assert written.startswith(MARKER)
    assert "| `mike.olsen@gmail.com` | - | 21 → 41 (+20) |" in written
    assert "| `lars.berg@nordkraft.no` | `nordkraft.no` |" not in written  # the second row is cut
    assert "…and 1 more leads change stage or qualification." in written
    assert "…and 2 more accounts." in written
    assert "Leads and accounts are shown as they are in the events sample." in written


def test_an_already_pseudonymised_sample_is_shown_as_it_is(in_repo, github, tmp_path):
    # Given a sample exported with `leadscore export --pseudonymise` and another key
    kept, field = model_domains(in_repo / "rules")
    exporter = Pseudonymiser(b"the-export-key", kept, field)
    lines = (in_repo / SAMPLE).read_text(encoding="utf-8").splitlines()
    events = [exporter.event(json.loads(line)) for line in lines if line.strip()]
    path = tmp_path / f"pseudonymised-{uuid.uuid4().hex[:8]}.jsonl"
    path.write_text("".join(json.dumps(event) + "\n" for event in events), encoding="utf-8")
    # When the check runs on it (with its own key)
    assert pr_check.main(["--base", "origin/main", "--events", str(path), "--key", KEY, "--dry-run"]) == 0
    # Then the names are the export's, not hashed again
    assert github.requests == []
    target = tmp_path / f"comment-{uuid.uuid4().hex[:8]}.md"
    pr_check.main(["--base", "origin/main", "--events", str(path), "--key", KEY, "--output", str(target)])
    body = target.read_text(encoding="utf-8")
    assert f"| `{exporter.email('lars.berg@nordkraft.no')}` | `nordkraft.no` | 95 → 105 (+10) |" in body
    assert f"`{exporter.domain('brusselsteel.be')}`" in body


def test_a_missing_base_revision_is_said_in_the_comment(in_repo, github):
    code = pr_check.main(["--base", "origin/nope", "--events", SAMPLE, "--key", KEY])
    assert code == 2
    body = github.comments[0]["body"]
    assert body.startswith(MARKER + "\n## ❌ Lead scoring model check")
    assert "The comparison could not run: git cannot read `rules` at `origin/nope`" in body


DOCS_SAMPLE = ROOT / "docs" / "sample-pr-comment.md"
WRITE_SAMPLES = os.environ.get("LEADSCORE_WRITE_SAMPLES") == "1"  # read before the fixtures clear LEADSCORE_*
DOCS_HEAD_SHA = "5e1d0c2b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d"  # the pull request's head in the sample's event payload


def test_the_sample_comment_in_docs_is_what_the_script_writes(in_repo, tmp_path, monkeypatch):
    """docs/sample-pr-comment.md is the comment on the fixture change with the committed sample;
    LEADSCORE_WRITE_SAMPLES=1 rewrites it (after a change to the comment) instead of comparing."""
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event_file(tmp_path, DOCS_HEAD_SHA)))
    target = tmp_path / f"comment-{uuid.uuid4().hex[:8]}.md"
    assert run_main("--events-label", f"{SAMPLE} (committed sample)", "--output", str(target)) == 0
    text = target.read_text(encoding="utf-8")
    assert f"Updated for commit {DOCS_HEAD_SHA[:12]}." in text
    if WRITE_SAMPLES:
        DOCS_SAMPLE.write_text(text, encoding="utf-8")
    assert DOCS_SAMPLE.read_text(encoding="utf-8") == text


def test_a_pull_request_from_a_fork_warns_when_its_read_only_token_cannot_comment(
    in_repo, github, tmp_path, monkeypatch, capsys
):
    # Given a fork's pull request, whose token the API refuses
    event = json.loads(event_file(tmp_path).read_text(encoding="utf-8"))
    event["pull_request"]["head"]["repo"]["full_name"] = "someone/leadscore"
    fork = tmp_path / f"fork-event-{uuid.uuid4().hex[:8]}.json"
    fork.write_text(json.dumps(event), encoding="utf-8")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(fork))
    monkeypatch.setenv("GITHUB_TOKEN", "read-only")
    # Then the check says so and keeps the model's verdict; the same refusal fails a branch of the repository
    assert run_main() == 0
    assert "::warning::pull request from a fork: the comment cannot be posted" in capsys.readouterr().out
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event_file(tmp_path)))
    assert run_main() == 2
    assert "HTTP 401" in capsys.readouterr().err
    assert github.comments == []


def test_the_token_goes_to_the_api_only():
    client = pr_check.GitHub(TOKEN, REPOSITORY, "https://api.github.example")
    with pytest.raises(pr_check.GitHubError, match="refusing to send the token"):
        client.request("GET", "https://elsewhere.example/repos/x")
    link = '<https://api.github.example/r?page=2>; rel="next", <https://api.github.example/r?page=5>; rel="last"'
    assert pr_check.next_page(link) == "https://api.github.example/r?page=2"
    assert pr_check.next_page('<https://api.github.example/r?page=1>; rel="prev"') is None


# --- the workflow file -----------------------------------------------------------------------------------


def check_jsonschema(path: Path, schema: str = "vendor.github-workflows") -> subprocess.CompletedProcess[str]:
    """SchemaStore's workflow schema as vendored in the check-jsonschema package: no network."""
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        env=clean_env(),
    )


def test_the_workflow_validates_against_the_github_workflow_schema(tmp_path):
    result = check_jsonschema(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr
    assert check_jsonschema(WORKFLOW, "custom.github-workflows-require-timeout").returncode == 0
    # and the check can fail: a misspelt permission level is caught
    broken = tmp_path / f"broken-{uuid.uuid4().hex[:8]}.yml"
    broken.write_text(WORKFLOW.read_text(encoding="utf-8").replace("pull-requests: write", "pull-requests: writ"))
    rejected = check_jsonschema(broken)
    assert rejected.returncode == 1 and "'writ' is not one of" in rejected.stdout


def test_the_workflow_runs_on_rule_changes_with_least_privilege_and_runs_the_script():
    data = workflow()
    assert data["on"] == {"pull_request": {"paths": ["rules/**"]}}
    assert data["permissions"] == {}
    job = data["jobs"]["check"]
    assert job["permissions"] == {"contents": "read", "pull-requests": "write", "id-token": "write"}
    steps = job["steps"]
    checkout = next(item for item in steps if str(item.get("uses", "")).startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    python = next(item for item in steps if str(item.get("uses", "")).startswith("actions/setup-python@"))
    assert python["with"]["python-version"] == "3.13"
    runs = [item.get("run", "") for item in steps]
    assert "python -m pip install ." in runs
    assert "leadscore validate --strict rules/" in runs
    aws = next(item for item in steps if str(item.get("uses", "")).startswith("aws-actions/configure-aws-credentials@"))
    assert aws["with"]["role-to-assume"] == "${{ vars.LEADSCORE_SAMPLE_ROLE_ARN }}"
    assert "vars.LEADSCORE_SAMPLE_URI != ''" in aws["if"]
    assert data["env"]["LEADSCORE_SAMPLE_URI"] == "${{ vars.LEADSCORE_SAMPLE_URI }}"
    committed = data["env"]["LEADSCORE_COMMITTED_SAMPLE"]
    assert (ROOT / committed).is_file()  # the fallback exists, so the check works without AWS
    comment = step("Diff against the base branch and comment")
    assert comment["run"].startswith("python scripts/pr_check.py")
    assert '--base "origin/$BASE_REF"' in comment["run"]
    assert comment["env"]["BASE_REF"] == "${{ github.base_ref }}"
    assert comment["env"]["GITHUB_TOKEN"] == "${{ secrets.GITHUB_TOKEN }}"
    assert "!cancelled()" in comment["if"]  # a failed validation still gets its comment
