"""The app's headless core, without a terminal: marks, the pager, the string table, config."""

from __future__ import annotations

import re
from pathlib import Path

from local_db.api import TicketQuery, View
from local_db.replica import Replica
from tests.local_db.factory import fixed_clock
from tui.core.config import load_app_config
from tui.core.marks import Marks
from tui.core.pager import Pager
from tui.i18n import LANGS, STRINGS, Translator, resolve_lang

TUI = Path(__file__).resolve().parents[2] / "tui"


def test_marks_by_filter_count_toggle_invert():
    q = TicketQuery(view=View.ASSIGNED)
    ids = [f"T{i}" for i in range(10)]
    marks = Marks.all_matching(q, len(ids))
    assert marks.count == 10 and marks.by_filter
    marks = marks.toggle("T3", in_base=True)  # unmark one
    assert marks.count == 9 and not marks.is_marked("T3", in_base=True)
    marks = marks.toggle("X1", in_base=False)  # one outside the filter
    assert marks.count == 10 and marks.is_marked("X1", in_base=False)
    assert sorted(marks.ids(lambda _q: iter(ids))) == sorted([*ids[:3], *ids[4:], "X1"])
    inverted = marks.invert(q, len(ids), lambda _q: iter(ids))
    assert inverted.count == 1 and inverted.is_marked("T3", in_base=False)
    explicit = Marks().toggle("T1", in_base=False).toggle("T2", in_base=False)
    flipped = explicit.invert(q, len(ids), lambda _q: iter(ids))
    assert flipped.count == 8 and flipped.base == q
    assert set(flipped.ids(lambda _q: iter(ids))) == set(ids) - {"T1", "T2"}


def test_pager_windows_agree_with_plain_paging(replica_path):
    with Replica.open(replica_path, clock=fixed_clock) as r:
        q = TicketQuery(view=View.ALL)
        everything = [row.id for row in r.query(q, limit=1000)]
        calls: list[int] = []

        def fetch(query, after, limit):
            calls.append(limit)
            return r.query(query, after=after, limit=limit)

        pager = Pager(page_size=50)
        for target in (0, 60, 120, 200, 299, 400, 150, 10):
            window, cursor = pager.window(fetch, q, target, upward=target in (150, 10))
            assert len(window.rows) <= 100
            assert [row.id for row in window.rows] == everything[window.start : window.end]
            assert cursor == min(target, 299) and window.contains(cursor)
        assert max(calls) <= 101, "never more than two pages per query"


def test_every_string_has_both_languages_and_every_key_used_exists():
    for key, texts in STRINGS.items():
        assert len(texts) == len(LANGS) and all(texts), key
    used = set()
    for path in TUI.rglob("*.py"):
        used |= set(re.findall(r'\bt\(\s*"([a-z_.]+)"', path.read_text(encoding="utf-8")))
        used |= set(
            re.findall(
                r'"((?:action|view|dialog|detail|conflicts|dash|sync|queue)\.[a-z_.]+)"',
                path.read_text(encoding="utf-8"),
            )
        )
    missing = sorted(k for k in used if k not in STRINGS)
    assert not missing, missing


def test_language_choice(monkeypatch):
    monkeypatch.delenv("FYCLI_LANG", raising=False)
    assert resolve_lang(None) == "zh"
    monkeypatch.setenv("FYCLI_LANG", "en_US.UTF-8")
    assert resolve_lang(None) == "en"
    assert resolve_lang("zh") == "zh"
    assert Translator("en")("sync.unsent", n=3) == "unsent 3"
    assert Translator("zh").days_left(-2) == "超期2天"


def test_a_broken_config_never_stops_the_app(tmp_path):
    (tmp_path / "config.toml").write_text("[keys\nresolve = ", encoding="utf-8")
    config = load_app_config(tmp_path)
    assert config.keymap == {} and "config.toml" in (config.problem or "")
    (tmp_path / "config.toml").write_text('[keys]\nresolve = 3\nnote = "ctrl+n"\n', encoding="utf-8")
    config = load_app_config(tmp_path)
    assert config.keymap == {"note": "ctrl+n"} and "resolve" in (config.problem or "")


def test_the_undo_window_is_read_from_config_and_a_bad_one_falls_back_to_ten_seconds(tmp_path):
    assert load_app_config(tmp_path).undo_grace == 10.0  # no config.toml at all
    (tmp_path / "config.toml").write_text('undo_grace = 30\n\n[keys]\nnote = "ctrl+n"\n', encoding="utf-8")
    config = load_app_config(tmp_path)
    assert config.undo_grace == 30.0 and config.problem is None
    (tmp_path / "config.toml").write_text('undo_grace = "soon"\n', encoding="utf-8")
    config = load_app_config(tmp_path)
    assert config.undo_grace == 10.0 and "undo_grace" in (config.problem or "")
    (tmp_path / "config.toml").write_text("undo_grace = 3601\n", encoding="utf-8")
    assert load_app_config(tmp_path).undo_grace == 10.0


def test_table_cells_are_cut_to_terminal_cells_chinese_counting_two():
    from rich.cells import cell_len

    from tui.widgets.queue.ticket_table import fit

    def shown(spans, width):
        out = fit(spans, width)
        assert sum(cell_len(text) for text, _ in out) == width, (spans, width, out)
        return "".join(text for text, _ in out)

    assert shown((("路灯不亮", ""),), 8) == "路灯不亮"
    assert shown((("路灯不亮", ""),), 10) == "路灯不亮  "
    assert shown((("路灯不亮了", ""),), 7) == "路灯不…"
    assert shown((("路灯不亮了", ""),), 6) == "路灯… "  # a wide character never split in half
    assert shown((("催", "bold"), ("2", ""), ("督", "")), 3) == "催…"
    assert shown((), 2) == "  "
    assert shown((("FY250000018", ""),), 15) == "FY250000018    "


def test_unit_names_own_known_and_other(replica_path):
    from tui.core.units import UnitNames, unit_names

    with Replica.open(replica_path, clock=fixed_clock) as r:
        names = unit_names(r)
    assert names.own_id == "U1" and names.own_name
    zh = Translator("zh")
    assert names.label(zh, "U1") == f"本单位（{names.own_name}）"
    assert names.label(zh, "township-1-06") == "其他单位（township-1-06）"
    assert names.label(Translator("en"), "township-1-06") == "another unit (township-1-06)"
    assert UnitNames(known={"t2": "三合镇人民政府"}).label(zh, "t2") == "三合镇人民政府"
    assert names.label(zh, None) == "—"
