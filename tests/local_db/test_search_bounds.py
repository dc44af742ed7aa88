"""Local search on long input: a clear one-line refusal, never a traceback (issue 9, defect 16).

SQLite fails on ~500 search words ("Expression tree is too large") and on one 50,000-character
word ("LIKE or GLOB pattern too complex"); fycli bounds the search and says so.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from fycli import cli
from local_db.api import SearchTooLong, TicketQuery
from tests.local_db.factory import make_replica

LATIN_WORDS = " ".join(f"wifi{i}" for i in range(500))  # each a LIKE test in SQL
CHINESE_WORDS = " ".join("路灯" for _ in range(500))
ONE_HUGE_WORD = "a" * 50_000


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "replica.db"
    make_replica(path, 50).close()
    return path


@pytest.mark.parametrize(
    "search", [LATIN_WORDS, CHINESE_WORDS, ONE_HUGE_WORD], ids=["latin", "chinese", "huge"]
)
def test_the_replica_refuses_a_search_too_long_to_run_with_a_clear_error(db, search):
    from local_db.replica import Replica

    with Replica.open(db) as r:
        q = TicketQuery(search=search)
        for call in (lambda: r.query(q), lambda: r.count(q), lambda: list(r.ids_matching(q))):
            with pytest.raises(SearchTooLong) as caught:
                call()
            message = str(caught.value)
            assert "\n" not in message and "too long" in message
            assert "at most 16 words and 200 characters" in message


def test_a_search_within_the_bounds_runs(db):
    from local_db.replica import Replica

    with Replica.open(db) as r:
        sixteen = " ".join(f"w{i}" for i in range(16))
        assert r.query(TicketQuery(search=sixteen)) == []
        assert r.count(TicketQuery(search="路" * 200)) == 0


@pytest.mark.parametrize("search", [LATIN_WORDS, ONE_HUGE_WORD], ids=["words", "huge"])
def test_fycli_list_says_the_search_is_too_long_in_one_line(db, search):
    result = CliRunner().invoke(cli, ["--db", str(db), "list", "--search", search])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "too long" in result.stderr and "--search" in result.stderr
