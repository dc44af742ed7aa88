"""The published JSON Schema files are the models, up to date, and the models round-trip as JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from schemas import export
from schemas.actions import LIAISON_ACTION_ADAPTER, LIAISON_KINDS
from schemas.calendar import HolidayTable
from schemas.ticket import liaison_copy
from schemas.wire import PullResponse, PushRequest, QueuedAction
from schemas.workflow import TRANSITIONS, Applied, decide
from tests.test_workflow import CAL, UNIT_A, drive, later, liaison, make_action

REPO = Path(__file__).resolve().parents[1]
FIX = "run `python -m schemas.export` and commit schemas/json/"


def test_committed_json_schemas_are_what_the_models_render() -> None:
    rendered = export.rendered()
    committed = {p.name for p in export.JSON_DIR.glob("*.json")}
    assert committed == set(rendered), f"schemas/json/ has other files than the models publish: {FIX}"
    stale = [name for name, text in rendered.items() if (export.JSON_DIR / name).read_text("utf-8") != text]
    assert stale == [], f"out of date with the models: {', '.join(stale)}; {FIX}"


def test_the_export_check_command_agrees() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "schemas.export", "--check"], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_the_check_notices_a_drifted_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, text in export.rendered().items():
        (tmp_path / name).write_text(text, "utf-8")
    monkeypatch.setattr(export, "JSON_DIR", tmp_path)
    assert export.stale_files() == []
    ticket = tmp_path / "ticket.schema.json"
    ticket.write_text(ticket.read_text("utf-8").replace('"epoch"', '"era"'), "utf-8")
    (tmp_path / "note.schema.json").unlink()
    assert sorted(export.stale_files()) == ["note.schema.json", "ticket.schema.json"]
    assert export.main(["--check"]) == 1


def _refs(node) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


@pytest.mark.parametrize("name", sorted(n for n in export.rendered() if n.endswith(".schema.json")))
def test_every_published_schema_is_valid_json_with_resolvable_refs(name: str) -> None:
    schema = json.loads((export.JSON_DIR / name).read_text("utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"fycli/{name.removesuffix('.schema.json')}"
    assert "properties" in schema or "oneOf" in schema
    for ref in _refs(schema):
        assert ref.startswith("#/$defs/"), ref
        assert ref.removeprefix("#/$defs/") in schema.get("$defs", {}), f"{name}: dangling {ref}"


def test_the_workflow_document_is_the_table() -> None:
    document = json.loads((export.JSON_DIR / "workflow.json").read_text("utf-8"))
    rows = [
        (r["action"], r["variant"], r["role"], r["to"], r["moves_epoch"]) for r in document["transitions"]
    ]
    assert rows == [
        (
            t.action,
            t.variant,
            t.role.value,
            t.to_status.value if t.to_status else None,
            t.epoch_cause.value if t.epoch_cause else None,
        )
        for t in TRANSITIONS
    ]
    assert document["deadlines"]["handling_working_days"] == {"urgent": 2, "general": 5, "complex": 15}


# --- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["registered", "in_progress_ext_pending", "flagged", "reopened_resolved"])
def test_a_ticket_round_trips_through_json(route: str) -> None:
    ticket = drive(route)
    for copy in (ticket, liaison_copy(ticket)):
        assert type(ticket).model_validate_json(copy.model_dump_json()) == copy
        assert type(ticket).model_validate(json.loads(copy.model_dump_json())) == copy
    assert liaison_copy(ticket).citizen_phone == "138****5678"


def test_a_push_request_with_every_liaison_action_round_trips() -> None:
    ticket = drive("in_progress")
    actions = [make_action(kind, ticket) for kind in sorted(LIAISON_KINDS)]
    push = PushRequest(
        client_id="laptop-0001",
        actions=[QueuedAction(seq=i, action=action) for i, action in enumerate(actions, start=1)],
    )
    again = PushRequest.model_validate_json(push.model_dump_json())
    assert again == push
    assert [type(q.action) for q in again.actions] == [type(a) for a in actions]
    for action in actions:
        assert LIAISON_ACTION_ADAPTER.validate_json(LIAISON_ACTION_ADAPTER.dump_json(action)) == action


def test_a_pull_page_round_trips() -> None:
    ticket = drive("in_progress")
    now = later(ticket)
    noted = decide(ticket, make_action("note", ticket, at=now), liaison(UNIT_A), now, CAL)
    resolved = decide(ticket, make_action("resolve", ticket, at=now), liaison(UNIT_A), now, CAL)
    assert isinstance(noted, Applied) and isinstance(resolved, Applied)
    page = PullResponse(
        cursor="c-42",
        has_more=False,
        tickets=[liaison_copy(resolved.ticket)],
        notes=list(noted.notes),
        events=list(resolved.events),
        removed=["FY-GONE-1"],
        calendar=[HolidayTable(year=2027, holidays=["2027-01-01"], workdays=["2027-02-20"])],
        calendar_version=3,
    )
    assert PullResponse.model_validate_json(page.model_dump_json()) == page


def test_unknown_fields_are_refused() -> None:
    ticket = drive("registered")
    data = json.loads(ticket.model_dump_json()) | {"epoh": 3}
    with pytest.raises(ValueError, match="epoh"):
        type(ticket).model_validate(data)
