"""The session's LoRAs and Control units as the manifest holds them: a round trip keeps every
value; a hand-edited or damaged manifest loses only the bad parts, each with a note."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gui.session import SessionState, SessionStore
from gui.session_extras import ControlUnitState, SessionExtras, extras_from_json, extras_to_json
from gui.settings import Parameters

UNIT = ControlUnitState(enabled=False, module="canny", model="/models/cn.safetensors",
                        source="File", file="/pictures/lines.png", layer="", strength=0.5,
                        start=0.1, end=0.8)  # fmt: skip
EXTRAS = SessionExtras(loras=(("ink", 0.6), ("style", -1.0)), control=(UNIT, ControlUnitState()))


def test_the_extras_go_through_the_session_files_unchanged(tmp_path):
    store = SessionStore(tmp_path / "session")
    image = np.full((8, 8, 3), 40, np.uint8)
    store.save(SessionState(image, np.zeros((8, 8), np.uint8), Parameters(), extras=EXTRAS))
    loaded = store.load()
    assert loaded.extras == EXTRAS and loaded.notes == []


def test_an_older_session_without_extras_restores_none():
    assert extras_from_json(None) == (SessionExtras(), [])


@pytest.mark.parametrize(
    ("change", "note"),
    [
        (lambda d: d["loras"].append(["nan", float("nan")]), "LoRA entry was not valid"),
        (lambda d: d["loras"].append(["big", 1e9]), "LoRA entry was not valid"),
        (lambda d: d["loras"].append(["\x1b[31mred", 1.0]), "LoRA entry was not valid"),
        (lambda d: d["loras"].append("ink"), "LoRA entry was not valid"),
        (lambda d: d["control"][1].update(module="rm -rf"), "Control unit 1 was not valid"),
        (lambda d: d["control"][1].update(strength=True), "Control unit 1 was not valid"),
        (lambda d: d["control"][1].update(end=2.0), "Control unit 1 was not valid"),
        (lambda d: d["control"][1].update(source="Clipboard"), "Control unit 1 was not valid"),
    ],
)
def test_a_bad_value_drops_only_its_entry_with_a_note(change, note):
    data = json.loads(json.dumps(extras_to_json(EXTRAS)))
    change(data)
    extras, notes = extras_from_json(data)
    assert any(note in each for each in notes)
    assert extras.loras[:2] == EXTRAS.loras and extras.control[0] == UNIT


def test_units_from_older_and_newer_versions_keep_the_fields_both_know():
    data = json.loads(json.dumps(extras_to_json(EXTRAS)))
    del data["control"][0]["end"]  # an older Brushwork had no end yet
    data["control"][1]["weight_type"] = "ease in"  # a newer one has more
    extras, notes = extras_from_json(data)
    assert notes == []
    assert extras.control[0] == ControlUnitState(**{**UNIT.__dict__, "end": 1.0})
    assert extras.control[1] == ControlUnitState()


def test_lists_that_are_not_lists_or_too_long_are_dropped_whole():
    extras, notes = extras_from_json({"loras": [["x", 1.0]] * 65, "control": {"a": 1}})
    assert extras == SessionExtras() and len(notes) == 2
    assert extras_from_json("text")[0] == SessionExtras()
