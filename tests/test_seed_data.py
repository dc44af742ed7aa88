"""Tests of the deterministic seed-data generator (central/seed_data.py)."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from central.seed_data import (
    APPEAL_FIELDS,
    APPEAL_TYPES,
    CATEGORIES,
    CHANNELS,
    COMPLEXITIES,
    COUNTIES,
    TEMPLATES,
    generate_appeals,
    unit_name_for_township,
    villages_of,
)

EXPECTED_COUNTIES = {"颍州区", "颍东区", "颍泉区", "临泉县", "太和县", "阜南县", "颍上县", "界首市"}
EXPECTED_KEYS = {
    "channel",
    "appeal_type",
    "category",
    "title",
    "description",
    "citizen_name",
    "citizen_phone",
    "needs_callback",
    "address",
    "county",
    "township",
    "village",
    "complexity",
}
ROOT = Path(__file__).resolve().parents[1]
PHONE_RE = re.compile(r"^1[35789]\d{9}$")


def sample(seed: int = 7, n: int = 2000, **kw: str) -> list[dict]:
    return list(generate_appeals(random.Random(seed), n, **kw))


# --- reference data ------------------------------------------------------------------------


def test_eight_counties_with_at_least_eight_townships() -> None:
    assert set(COUNTIES) == EXPECTED_COUNTIES
    for county, towns in COUNTIES.items():
        assert len(towns) >= 8, county
        assert len(set(towns)) == len(towns), f"duplicate township in {county}"
        assert all(t.endswith(("镇", "乡", "街道")) for t in towns), county
    assert "谢桥镇" in COUNTIES["颍上县"]


def test_codes_and_labels() -> None:
    assert CHANNELS == {
        "hotline_12345": "12345热线",
        "leader_board": "领导留言板",
        "mayor_mailbox": "市长信箱",
        "media": "媒体热线",
        "opinion": "舆情监测",
        "wechat": "阜务为民小程序",
    }
    assert APPEAL_TYPES == {
        "consult": "咨询",
        "help": "求助",
        "complaint": "投诉",
        "report": "举报",
        "suggestion": "建议",
        "praise": "表扬",
    }
    assert CATEGORIES[0] == "房产物业" and CATEGORIES[-1] == "其他" and len(CATEGORIES) == 12


def test_templates_cover_every_category() -> None:
    assert set(TEMPLATES) == set(CATEGORIES)
    for category, templates in TEMPLATES.items():
        assert len(templates) >= 4, category
        for t in templates:
            assert t.appeal_type in APPEAL_TYPES
    used_types = {t.appeal_type for ts in TEMPLATES.values() for t in ts}
    assert used_types == set(APPEAL_TYPES)
    text = "".join(t.title + t.description for ts in TEMPLATES.values() for t in ts)
    for word in ("路灯", "噪音", "停水", "工资", "垃圾"):
        assert word in text, word


# --- generated appeals ---------------------------------------------------------------------


def test_keys_exact_and_types() -> None:
    assert set(APPEAL_FIELDS) == EXPECTED_KEYS
    for a in sample():
        assert set(a) == EXPECTED_KEYS
        assert isinstance(a["needs_callback"], bool)
        assert all(isinstance(a[k], str) for k in EXPECTED_KEYS - {"needs_callback"})


def test_codes_valid() -> None:
    for a in sample():
        assert a["channel"] in CHANNELS
        assert a["appeal_type"] in APPEAL_TYPES
        assert a["category"] in CATEGORIES
        assert a["complexity"] in COMPLEXITIES
        assert a["township"] in COUNTIES[a["county"]]
        assert a["village"] in villages_of(a["township"])
        assert a["address"].startswith(a["county"] + a["township"] + a["village"])
        assert len(a["address"]) > len(a["county"] + a["township"] + a["village"])


def test_phone_and_name_format() -> None:
    for a in sample():
        assert PHONE_RE.match(a["citizen_phone"]), a["citizen_phone"]
        assert a["citizen_phone"][:2] in {"13", "15", "17", "18", "19"}
        assert 2 <= len(a["citizen_name"]) <= 3
        assert re.fullmatch(r"[\u4e00-\u9fff]+", a["citizen_name"])


def test_texts_non_empty_and_bounded() -> None:
    for a in sample(n=5000):
        assert a["title"].strip()
        assert 0 < len(a["description"]) <= 4000
        assert 60 <= len(a["description"]) <= 400, a["description"]
        assert "{" not in a["description"] and "}" not in a["title"]


def test_deterministic_same_seed() -> None:
    assert sample(seed=123) == sample(seed=123)


def test_different_seed_differs() -> None:
    assert sample(seed=1) != sample(seed=2)


def test_prefix_stable() -> None:
    # The first k appeals of a run do not depend on how many are requested.
    assert sample(seed=9, n=50) == sample(seed=9, n=500)[:50]


def test_deterministic_across_processes() -> None:
    # Guards against relying on set/dict iteration order under hash randomisation.
    code = (
        "import random, json; from central.seed_data import generate_appeals;"
        "print(json.dumps(list(generate_appeals(random.Random(5), 300)), ensure_ascii=False))"
    )
    outs = set()
    for hash_seed in ("1", "2"):
        env = {"PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(ROOT)}
        proc = subprocess.run(
            [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, check=True
        )
        outs.add(proc.stdout)
    assert len(outs) == 1


def test_distribution_roughly_as_specified() -> None:
    appeals = sample(seed=11, n=20_000)
    n = len(appeals)
    callback = sum(a["needs_callback"] for a in appeals) / n
    urgent = sum(a["complexity"] == "urgent" for a in appeals) / n
    complex_ = sum(a["complexity"] == "complex" for a in appeals) / n
    assert 0.12 < callback < 0.18
    assert 0.12 < urgent < 0.18
    assert 0.12 < complex_ < 0.18
    assert {a["channel"] for a in appeals} == set(CHANNELS)
    assert {a["category"] for a in appeals} == set(CATEGORIES)
    assert {a["county"] for a in appeals} == EXPECTED_COUNTIES


def test_county_filter() -> None:
    appeals = sample(county="颍上县")
    assert {a["county"] for a in appeals} == {"颍上县"}
    assert len({a["township"] for a in appeals}) > 8


def test_township_filter() -> None:
    appeals = sample(county="颍上县", township="谢桥镇")
    assert {(a["county"], a["township"]) for a in appeals} == {("颍上县", "谢桥镇")}
    assert all(a["address"].startswith("颍上县谢桥镇") for a in appeals)
    # Township alone is enough when the name is unique.
    alone = sample(township="谢桥镇", n=200)
    assert {(a["county"], a["township"]) for a in alone} == {("颍上县", "谢桥镇")}


def test_unknown_area_rejected() -> None:
    with pytest.raises(ValueError):
        generate_appeals(random.Random(0), 10, county="合肥市")
    with pytest.raises(ValueError):
        generate_appeals(random.Random(0), 10, township="不存在镇")
    with pytest.raises(ValueError):
        generate_appeals(random.Random(0), 10, county="颍州区", township="谢桥镇")
    with pytest.raises(ValueError):
        generate_appeals(random.Random(0), -1)


def test_zero_appeals() -> None:
    assert list(generate_appeals(random.Random(0), 0)) == []


def test_search_words_present_in_sample() -> None:
    appeals = sample(seed=2024, n=5000)
    text = "\n".join(a["title"] + a["description"] for a in appeals)
    for word in ("路灯", "噪音", "停水", "工资", "垃圾"):
        assert word in text, word


# --- villages and units --------------------------------------------------------------------


def test_villages_deterministic_and_plausible() -> None:
    v = villages_of("谢桥镇")
    assert len(v) == 12 and len(set(v)) == 12
    assert v == villages_of("谢桥镇")
    assert villages_of("谢桥镇", 5) == v[:5]
    assert villages_of("南照镇") != v
    assert all(re.fullmatch(r"[\u4e00-\u9fff]{2,4}村", x) for x in v)
    assert villages_of("谢桥镇", 0) == []


def test_unit_names() -> None:
    assert unit_name_for_township("颍上县", "谢桥镇") == "颍上县谢桥镇人民政府"
    assert unit_name_for_township("颍上县", "赛涧回族乡") == "颍上县赛涧回族乡人民政府"
    assert unit_name_for_township("颍州区", "鼓楼街道") == "颍州区鼓楼街道办事处"
