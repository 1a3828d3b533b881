"""Stores for tests: FOCUS rows from `focus_factory` loaded through the real ingest, with the
rows kept beside the store so answers can be checked against an independent sum."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import NamedTuple

from focus_factory import Charge, make_charges, write_focus_csv

from bot.config import Config
from bot.sources.focus_ingest import ingest_focus


class FocusStore(NamedTuple):
    charges: list[Charge]  # what the FOCUS file holds, for `focus_factory.dollars`
    db_path: Path
    focus_file: Path


def focus_store(folder: Path, config: Config, start: date, end: date, seed: int = 1) -> FocusStore:
    """Daily charges from start to end written as one FOCUS 1.0 CSV in `folder` and ingested
    into `folder/costbot.db`."""
    charges = make_charges(start, end, seed=seed)
    focus_file = write_focus_csv(folder / "focus.csv", charges)
    db_path = folder / "costbot.db"
    ingest_focus([str(focus_file)], config, db_path)
    return FocusStore(charges, db_path, focus_file)
