"""One store, many readers: WAL, read-only connections for answers that never migrate, a
clear message for a store that is missing or not migrated, `costbot migrate`, and a reader
that keeps answering while another process holds a write transaction."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import pytest
import sqlite_utils
from paths import FOCUS_SAMPLE

from bot.cli import main
from bot.config import Config
from bot.context import AppContext
from bot.periods import Period
from bot.sources.focus_ingest import ingest_focus
from bot.store import StoreNotReady, migrate_store, open_reader, queries
from bot.store.schema import migrations

COSTBOT = Path(sys.executable).parent / "costbot"
EVERY_DAY = Period(date(2000, 1, 1), date(2100, 1, 1), "rolling", "all")


@pytest.fixture
def store(tmp_path: Path) -> Path:
    db_path = tmp_path / "costbot.db"
    ingest_focus([str(FOCUS_SAMPLE)], Config(), db_path, show_progress=False)
    return db_path


def test_the_store_is_in_wal_mode_and_answers_read_only(store: Path) -> None:
    assert sqlite_utils.Database(store).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    context = AppContext(config=Config(), db_path=str(store))
    db = context.open_db()
    try:
        assert queries.total(db, EVERY_DAY) > 0
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            db.execute("DELETE FROM daily_cost")
    finally:
        db.close()
    writer = context.open_writer()
    try:
        writer.execute("DELETE FROM accounts")  # the writer can
    finally:
        writer.close()


def test_a_reader_of_a_missing_store_says_how_to_create_one(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.db"
    with pytest.raises(StoreNotReady, match=r"no cost store yet.*costbot ingest focus"):
        open_reader(missing)
    assert not missing.exists()  # a reader never creates the file


def test_a_reader_of_an_unmigrated_store_asks_for_costbot_migrate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db_path = tmp_path / "old.db"
    old = sqlite_utils.Database(db_path)
    migrations.apply(old, stop_before="m002_drop_unread_resource_index")  # an older Costbot
    old.close()
    with pytest.raises(StoreNotReady, match=r"pending: m002_.*run `costbot migrate`"):
        open_reader(db_path)

    monkeypatch.setenv("COSTBOT_DB", str(db_path))
    monkeypatch.delenv("COSTBOT_CONFIG", raising=False)
    assert main(["ask", "/cost top teams"]) == 2
    err = capsys.readouterr().err
    assert "costbot migrate" in err and err.count("\n") == 1

    assert main(["migrate"]) == 0
    applied = capsys.readouterr().out
    # Every step after the first, and only those: the old store had m001 already.
    assert "migration(s): m002_drop_unread_resource_index" in applied
    assert "m001" not in applied
    assert main(["migrate"]) == 0
    assert "schema up to date" in capsys.readouterr().out
    open_reader(db_path).close()


def test_a_file_that_is_not_a_store_is_named(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.db"
    bogus.write_text("not sqlite at all, just text long enough to be read as a header" * 10)
    with pytest.raises(StoreNotReady, match="not a Costbot store"):
        open_reader(bogus)


def test_migrate_creates_an_empty_store(tmp_path: Path) -> None:
    db_path = tmp_path / "new.db"
    assert migrate_store(db_path)[:2] == ["m001_cost_store", "m002_drop_unread_resource_index"]
    assert migrate_store(db_path) == []
    db = open_reader(db_path)
    try:
        assert queries.data_range(db) is None
    finally:
        db.close()


# A writer in its own process: it deletes every cost row inside a transaction, says so,
# and holds the transaction (and its write lock) open until told to commit. EXCLUSIVE: in a
# rollback-journal store that locks every reader out; in WAL mode readers go on.
HOLD_A_WRITE = textwrap.dedent(
    """
    import sys
    from bot.store import open_writer

    db = open_writer(sys.argv[1])
    db.execute("BEGIN EXCLUSIVE")
    db.execute("DELETE FROM daily_cost")
    db.execute("DELETE FROM resource_cost")
    print("holding", flush=True)
    sys.stdin.readline()
    db.conn.commit()
    print("committed", flush=True)
    """
)


def test_readers_keep_answering_while_another_process_holds_a_write(store: Path) -> None:
    context = AppContext(config=Config(), db_path=str(store))
    before = context.open_db()
    committed_total = queries.total(before, EVERY_DAY)
    before.close()
    assert committed_total > 0

    writer = subprocess.Popen(
        [sys.executable, "-c", HOLD_A_WRITE, str(store)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None and writer.stdin is not None
        assert writer.stdout.readline().strip() == "holding"

        # In this process: fresh read-only connections, as each Slack request opens one.
        for _ in range(20):
            db = context.open_db()
            try:
                assert queries.total(db, EVERY_DAY) == committed_total
                assert queries.breakdown(db, EVERY_DAY, "team")
            finally:
                db.close()
        # In a third process, through the CLI as a user would ask.
        asked = subprocess.run(
            [str(COSTBOT), "ask", "/cost top services 2024-09"],
            env={"COSTBOT_DB": str(store)},
            cwd=store.parent,  # no costbot.yml here: the defaults
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert asked.returncode == 0, asked.stderr
        assert "locked" not in asked.stderr and "$13.00" in asked.stdout

        writer.stdin.write("commit\n")
        writer.stdin.flush()
        assert writer.stdout.readline().strip() == "committed"
    finally:
        writer.stdin.close()
        writer.wait(timeout=30)
    assert writer.returncode == 0

    after = context.open_db()
    try:
        assert queries.total(after, EVERY_DAY) == 0  # the committed delete is seen at once
    finally:
        after.close()
