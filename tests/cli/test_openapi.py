"""`leadscore openapi`: each form's exact contract, generated from the model and kept in openapi.yaml."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

from leadscore.cli.openapi import BEGIN, END, add_openapi_command, form_paths, updated
from leadscore.core.loader import load_model
from leadscore.core.spec import FormSpec, ModelSpec
from leadscore.ingest.forms import CAPTURED_FIELDS, RESERVED_FIELDS, FormError, validate_submission

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"
OPENAPI = ROOT / "openapi.yaml"
URLENCODED = "application/x-www-form-urlencoded"


def run(*argv: str) -> int:
    """The command through its own parser (cli/main.py registers it the same way)."""
    parser = argparse.ArgumentParser(prog="leadscore")
    add_openapi_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return int(args.run(args))


def outside_block(text: str) -> str:
    return text[: text.index(BEGIN)] + text[text.index(END) :]


def resolve(document: dict, response: dict) -> dict:
    if "$ref" not in response:
        return response
    return document["components"]["responses"][response["$ref"].removeprefix("#/components/responses/")]


def body_schemas(paths: dict, form_id: str) -> tuple[dict, dict]:
    content = paths[f"/forms/{form_id}"]["post"]["requestBody"]["content"]
    return content["application/json"]["schema"], content[URLENCODED]["schema"]


ALL_TYPES = ModelSpec(
    forms={
        "survey": FormSpec(
            honeypot="website",
            fields={
                "email": {"type": "email", "required": True},
                "note": {"type": "text", "max_length": 40},
                "name": {"type": "text", "required": True, "max_length": 20},
                "seats": {"type": "integer", "min": 1, "max": 500},
                "ratio": {"type": "number", "min": -1.5, "max": 1.5},
                "anything": {"type": "integer"},
                "plan": {"type": "choice", "choices": ["free", "pro"], "required": True},
                "agree": {"type": "boolean"},
                "backup": {"type": "email"},
            },
        )
    }
)


def test_the_committed_openapi_yaml_is_what_the_model_generates():
    text = OPENAPI.read_text(encoding="utf-8")
    assert updated(text, load_model(RULES).spec) == text, "run `leadscore openapi --write openapi.yaml`"
    assert run("openapi", str(RULES), "--check", str(OPENAPI)) == 0


def test_every_form_of_the_shipped_model_has_its_path_with_exactly_its_fields():
    spec = load_model(RULES).spec
    document = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))
    generic = document["paths"]["/forms/{formId}"]["post"]["responses"]
    for form_id, form in spec.forms.items():
        operation = document["paths"][f"/forms/{form_id}"]["post"]
        for schema in body_schemas(document["paths"], form_id):
            captured = {name for name, (group, _, _) in CAPTURED_FIELDS.items() if group in form.captured_groups()}
            assert set(schema["properties"]) == {*form.fields, form.honeypot, *RESERVED_FIELDS, *captured}
            assert schema["required"] == [name for name, field in form.fields.items() if field.required]
            assert schema["additionalProperties"] is (form.extra_fields == "ignore")
        assert set(operation["responses"]) == set(generic) - {"404"}  # a declared form is never unknown
        for status, response in operation["responses"].items():  # components, answering as the generic path
            assert set(response) == {"$ref"}, status
            assert resolve(document, response) == resolve(document, generic[status]), status


def test_each_field_type_has_its_schema_for_json_and_for_a_plain_html_form():
    json_schema, form_schema = body_schemas(form_paths(ALL_TYPES), "survey")
    fields = json_schema["properties"]
    assert fields["email"] == {"type": "string", "format": "email", "maxLength": 254}
    assert fields["note"] == {"type": "string", "maxLength": 40}
    assert fields["name"] == {"type": "string", "maxLength": 20, "minLength": 1, "pattern": r"\S"}
    assert fields["seats"] == {"type": "integer", "minimum": 1, "maximum": 500}
    assert fields["ratio"] == {"type": "number", "minimum": -1.5, "maximum": 1.5}
    assert fields["anything"] == {"type": "integer", "minimum": -(2**63), "maximum": 2**63}
    assert fields["plan"] == {"type": "string", "enum": ["free", "pro"]}
    assert fields["agree"] == {"type": "boolean"}
    assert fields["website"]["maxLength"] == 0
    assert fields["anonymous_id"]["pattern"] == r"^[\x21-\x7e]{1,200}$"
    assert json_schema["required"] == ["email", "name", "plan"]
    sent = form_schema["properties"]  # what a browser sends: text, blank when an optional input is left alone
    assert sent["seats"]["pattern"] == "^([0-9]{1,3})?$"
    assert sent["ratio"]["pattern"] == r"^(-?[0-9]{1,1}(\.[0-9]{1,18})?)?$"
    assert sent["plan"]["enum"] == ["free", "pro"]  # required: blank is not a choice
    assert sent["agree"]["enum"][-1] == "" and {"true", "false", "on"} <= set(sent["agree"]["enum"])
    assert sent["backup"] == {"anyOf": [fields["backup"], {"const": ""}]}
    assert sent["anonymous_id"]["pattern"] == r"^([\x21-\x7e]{1,200})?$"


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (
            {"email": "ann@acme.example", "name": "Ann", "plan": "pro", "seats": 12, "ratio": -0.5, "agree": True},
            "json",
        ),
        (
            {"email": "ann@acme.example", "name": "Ann", "plan": "free", "seats": "12", "agree": "on", "note": ""},
            "form",
        ),
        ({"email": "ann@acme.example", "name": "Ann", "plan": "free", "backup": "", "website": ""}, "form"),
    ],
)
def test_what_the_schema_allows_the_form_accepts(body, kind):
    json_schema, form_schema = body_schemas(form_paths(ALL_TYPES), "survey")
    jsonschema.validate(body, json_schema if kind == "json" else form_schema)
    submission = validate_submission("survey", ALL_TYPES.forms["survey"], body)
    assert not submission.is_bot and submission.email == "ann@acme.example"


@pytest.mark.parametrize(
    "body",
    [
        {"email": "ann@acme.example", "name": "Ann", "plan": "pro", "colour": "red"},  # unknown field
        {"email": "ann@acme.example", "name": "Ann", "plan": "gold"},  # not a choice
        {"email": "ann@acme.example", "name": "Ann", "plan": "pro", "seats": 501},  # above max
        {"email": "ann@acme.example", "name": "  ", "plan": "pro"},  # blank required text
        {"email": "ann@acme.example", "plan": "pro"},  # required field missing
    ],
)
def test_what_the_schema_refuses_the_form_refuses(body):
    json_schema, _ = body_schemas(form_paths(ALL_TYPES), "survey")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, json_schema)
    with pytest.raises(FormError):
        validate_submission("survey", ALL_TYPES.forms["survey"], body)


def test_write_replaces_only_the_generated_block_and_check_sees_a_stale_one(tmp_path, capsys):
    model = tmp_path / "rules"
    shutil.copytree(RULES, model)
    source = (model / "model.yaml").read_text(encoding="utf-8")
    anchor = "      comment: {type: text, max_length: 2000}\n"
    assert anchor in source
    (model / "model.yaml").write_text(
        source.replace(anchor, anchor + "      plan: {type: choice, choices: [free, pro]}\n"), encoding="utf-8"
    )
    target = tmp_path / "openapi.yaml"
    shutil.copy(OPENAPI, target)
    before = target.read_text(encoding="utf-8")

    assert run("openapi", str(model), "--check", str(target)) == 1
    assert "out of date" in capsys.readouterr().err
    assert run("openapi", str(model), "--write", str(target)) == 0
    after = target.read_text(encoding="utf-8")
    assert after != before
    assert outside_block(after) == outside_block(before)  # the hand-written text, byte for byte
    document = yaml.safe_load(after)
    json_schema, _ = body_schemas(document["paths"], "nps-survey")
    assert json_schema["properties"]["plan"] == {"type": "string", "enum": ["free", "pro"]}
    assert run("openapi", str(model), "--check", str(target)) == 0


def test_without_markers_the_block_is_added_at_the_end_of_paths(tmp_path):
    text = OPENAPI.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END) + 1
    target = tmp_path / "openapi.yaml"
    target.write_text(text[:start] + text[end:], encoding="utf-8")
    assert run("openapi", str(RULES), "--write", str(target)) == 0
    written = target.read_text(encoding="utf-8")
    assert written.index(END) < written.index("\ncomponents:")
    assert yaml.safe_load(written) == yaml.safe_load(text)  # same document, the block in another place
    assert run("openapi", str(RULES), "--check", str(target)) == 0


def test_broken_markers_are_an_error_not_a_guess(tmp_path, capsys):
    target = tmp_path / "openapi.yaml"
    target.write_text(OPENAPI.read_text(encoding="utf-8").replace(END + "\n", ""), encoding="utf-8")
    assert run("openapi", str(RULES), "--write", str(target)) == 1
    assert "markers" in capsys.readouterr().err


def test_without_a_file_the_block_is_printed(capsys):
    assert run("openapi", str(RULES)) == 0
    out = capsys.readouterr().out
    assert out.startswith(BEGIN) and out.rstrip().endswith(END)
    assert set(yaml.safe_load(out)) == {f"/forms/{form_id}" for form_id in load_model(RULES).spec.forms}
