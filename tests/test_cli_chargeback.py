"""`costbot report chargeback` end to end: a store loaded through the real ingest, the
config from a file, the report on stdout; bad usage is one line and exit 2."""

from __future__ import annotations

import json

import pytest
import yaml
from chargeback_data import TEAMS, config_of, load, october_rows, shared

from bot.cli import main


def setup_store(tmp_path, monkeypatch, settings: dict) -> None:
    config_path = tmp_path / "costbot.yml"
    config_path.write_text(yaml.safe_dump({"teams": TEAMS, "shared_costs": settings}))
    load(tmp_path, october_rows(), config_of(settings)).close()
    monkeypatch.setenv("COSTBOT_DB", str(tmp_path / "costbot.db"))
    monkeypatch.setenv("COSTBOT_CONFIG", str(config_path))


def test_csv_by_default(tmp_path, monkeypatch, capsys):
    setup_store(tmp_path, monkeypatch, shared())
    assert main(["report", "chargeback", "--month", "2026-10"]) == 0
    out, err = capsys.readouterr()
    assert out == (
        "team,direct,shared,total\n"
        "payments,300.00,75.00,375.00\n"
        "search,100.00,25.00,125.00\n"
        "ml,0.00,0.00,0.00\n"
        "untagged,20.00,0.00,20.00\n"
        "(total),420.00,100.00,520.00\n"
    )
    # The EUR charge is not added to dollars: said on stderr, the CSV stays clean.
    assert err.count("\n") == 1 and "999.00" in err and "EUR" in err


def test_json_with_untagged_allocated(tmp_path, monkeypatch, capsys):
    setup_store(tmp_path, monkeypatch, shared(untagged="allocate", allocation="even"))
    assert main(["report", "chargeback", "--month", "2026-10", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "month": "2026-10",
        "currency": "USD",
        "total": "520.00",
        "rows": [
            {"team": "payments", "direct": "300.00", "shared": "60.00", "total": "360.00"},
            {"team": "search", "direct": "100.00", "shared": "60.00", "total": "160.00"},
            {"team": "ml", "direct": "0.00", "shared": "0.00", "total": "0.00"},
        ],
    }


def test_bad_month_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    setup_store(tmp_path, monkeypatch, shared())
    assert main(["report", "chargeback", "--month", "2026-13"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "2026-13" in err


def test_no_store_is_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COSTBOT_DB", str(tmp_path / "missing.db"))
    assert main(["report", "chargeback", "--month", "2026-10"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "no cost store" in err
    assert not (tmp_path / "missing.db").exists()


def test_bad_format_is_exit_2(tmp_path, monkeypatch, capsys):
    setup_store(tmp_path, monkeypatch, shared())
    with pytest.raises(SystemExit) as exit_:
        main(["report", "chargeback", "--month", "2026-10", "--format", "xlsx"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1
