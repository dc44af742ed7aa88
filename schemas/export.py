"""Publish the models as JSON Schema files, so another implementation can follow the contract.

``python -m schemas.export`` rewrites ``schemas/json/``; ``--check`` exits 1 when the committed
files differ from the models (the test suite runs the same check).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter

from schemas.actions import CENTRAL_ACTION_ADAPTER, LIAISON_ACTION_ADAPTER
from schemas.calendar import HANDLING_WORKING_DAYS, SIGN_FOR_WORKING_DAYS, HolidayTable
from schemas.enums import REASON_LABELS, STATUS_LABELS
from schemas.ticket import Event, Note, Ticket
from schemas.wire import ErrorBody, Me, PullResponse, PushRequest, PushResponse, UnitMetrics
from schemas.workflow import TRANSITIONS

JSON_DIR = Path(__file__).parent / "json"

MODELS: dict[str, type[BaseModel] | TypeAdapter] = {
    "ticket": Ticket,
    "note": Note,
    "event": Event,
    "liaison_action": LIAISON_ACTION_ADAPTER,
    "central_action": CENTRAL_ACTION_ADAPTER,
    "push_request": PushRequest,
    "push_response": PushResponse,
    "pull_response": PullResponse,
    "holiday_table": HolidayTable,
    "unit_metrics": UnitMetrics,
    "me": Me,
    "error": ErrorBody,
}


def workflow_document() -> dict[str, Any]:
    """The transition table, statuses and reason codes as plain data."""
    return {
        "statuses": {status.value: label for status, label in STATUS_LABELS.items()},
        "reasons": {reason.value: label for reason, label in REASON_LABELS.items()},
        "deadlines": {
            "sign_for_working_days": SIGN_FOR_WORKING_DAYS,
            "handling_working_days": {c.value: n for c, n in HANDLING_WORKING_DAYS.items()},
        },
        "transitions": [
            {
                "action": t.action,
                "variant": t.variant,
                "role": t.role.value,
                "from": sorted(s.value if s else "" for s in t.from_statuses),
                "to": t.to_status.value if t.to_status else None,
                "moves_epoch": t.epoch_cause.value if t.epoch_cause else None,
                "meaning": t.meaning,
            }
            for t in TRANSITIONS
        ],
    }


def rendered() -> dict[str, str]:
    """File name → exact file content for every published document."""
    files = {}
    for name, model in MODELS.items():
        if isinstance(model, TypeAdapter):
            schema = model.json_schema()
        else:
            schema = model.model_json_schema()
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"fycli/{name}", **schema}
        files[f"{name}.schema.json"] = json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    files["workflow.json"] = json.dumps(workflow_document(), ensure_ascii=False, indent=2) + "\n"
    return files


def stale_files() -> list[str]:
    """Names of published files missing or different from what the models render."""
    return [
        name
        for name, text in rendered().items()
        if not (JSON_DIR / name).exists() or (JSON_DIR / name).read_text("utf-8") != text
    ]


def main(argv: list[str]) -> int:
    if "--check" in argv:
        stale = stale_files()
        if stale:
            print(f"out of date: {', '.join(stale)}; run: python -m schemas.export", file=sys.stderr)
            return 1
        return 0
    JSON_DIR.mkdir(exist_ok=True)
    for name, text in rendered().items():
        (JSON_DIR / name).write_text(text, "utf-8")
    print(f"wrote {len(MODELS) + 1} files to {JSON_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
