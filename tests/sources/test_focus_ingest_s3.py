"""`costbot ingest focus s3://...` against moto's S3 server over real HTTP."""

from __future__ import annotations

import gzip

import boto3
import pytest
import sqlite_utils
from paths import FOCUS_SAMPLE

from bot.cli import main

SAMPLE = FOCUS_SAMPLE


@pytest.fixture
def s3_endpoint(aws):
    return aws


def test_ingest_from_an_s3_prefix(s3_endpoint, tmp_path, monkeypatch, capsys):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="billing-exports")
    body = SAMPLE.read_bytes()
    s3.put_object(
        Bucket="billing-exports", Key="focus/2024-09/part-0.csv.gz", Body=gzip.compress(body)
    )
    s3.put_object(Bucket="billing-exports", Key="focus/README.txt", Body=b"not cost data")
    s3.put_object(Bucket="billing-exports", Key="other/part-9.csv", Body=body)

    db_path = tmp_path / "costbot.db"
    monkeypatch.setenv("COSTBOT_DB", str(db_path))
    assert main(["ingest", "focus", "s3://billing-exports/focus/"]) == 0
    assert "1,000 charge rows" in capsys.readouterr().out

    db = sqlite_utils.Database(db_path)
    (ingest,) = list(db["ingests"].rows)
    assert ingest["file"] == "s3://billing-exports/focus/2024-09/part-0.csv.gz"
    assert ingest["rows"] == 1000


def test_missing_bucket_and_empty_prefix_are_clear_errors(
    s3_endpoint, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("COSTBOT_DB", str(tmp_path / "costbot.db"))
    assert main(["ingest", "focus", "s3://no-such-bucket/focus/"]) == 2
    assert "s3://no-such-bucket/focus/: S3 error NoSuchBucket" in capsys.readouterr().err
    boto3.client("s3").create_bucket(Bucket="empty")
    assert main(["ingest", "focus", "s3://empty/focus/"]) == 2
    assert "no FOCUS files" in capsys.readouterr().err
    assert not (tmp_path / "costbot.db").exists()
