"""`costbot sync inventory`: the report on stdout, exit 0 also with warnings, exit 1 with one
line when the credentials do not work."""

from __future__ import annotations

import boto3
from aws_deny_proxy import DenyProxy, access_denied

from bot.cli import main
from bot.store import open_store, queries

HOME = "123456789012"


def _setup(tmp_path, monkeypatch, config: str = "") -> None:
    monkeypatch.setenv("COSTBOT_DB", str(tmp_path / "costbot.db"))
    (tmp_path / "costbot.yml").write_text(config or "tag_keys: [Team]\n")
    monkeypatch.setenv("COSTBOT_CONFIG", str(tmp_path / "costbot.yml"))


def _stored(tmp_path) -> list[dict]:
    db = open_store(tmp_path / "costbot.db")
    try:
        return queries.resources(db)
    finally:
        db.close()


def test_sync_inventory_prints_the_report(aws, tmp_path, monkeypatch, capsys):
    _setup(tmp_path, monkeypatch, "aws:\n  regions: [us-east-1, eu-west-1]\n")
    for region in ("us-east-1", "eu-west-1"):
        boto3.client("ec2", region_name=region).run_instances(
            ImageId="ami-12c6146b", MinCount=2, MaxCount=2
        )

    assert main(["sync", "inventory"]) == 0

    out = capsys.readouterr().out.splitlines()
    assert f"  {HOME} eu-west-1: 2 ec2:instance" in out
    assert f"  {HOME} us-east-1: 2 ec2:instance" in out
    assert out[-1] == (
        "Inventory: 4 resources in 1 account and 2 regions; 0 of 4 running EC2 instances idle"
    )
    assert len(_stored(tmp_path)) == 4


def test_a_missing_permission_is_a_warning_and_exit_0(aws, tmp_path, monkeypatch, capsys):
    _setup(tmp_path, monkeypatch)
    boto3.client("rds", region_name="us-east-1").create_db_instance(
        DBInstanceIdentifier="ledger",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="costbot",
        MasterUserPassword="not-a-secret-1",
        AllocatedStorage=20,
    )
    boto3.client("ec2", region_name="us-east-1").run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1
    )
    with DenyProxy(aws) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_RDS", proxy.url)
        proxy.rules.append(
            lambda call: (
                access_denied("rds:DescribeDBInstances")
                if call.action == "DescribeDBInstances"
                else None
            )
        )
        assert main(["sync", "inventory"]) == 0

    out = capsys.readouterr().out.splitlines()
    assert (
        f"warning: access denied: rds:DescribeDBInstances in account {HOME}"
        " (see the IAM policy in README 'Connect AWS')"
    ) in out
    assert out[-1].endswith("; 1 warning(s)")
    assert [row["resource_type"] for row in _stored(tmp_path)] == ["ec2:instance"]


def test_no_credentials_is_one_line_and_exit_1(aws, tmp_path, monkeypatch, capsys):
    _setup(tmp_path, monkeypatch)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance role to look for

    assert main(["sync", "inventory"]) == 1

    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "costbot: no AWS credentials found (environment, ~/.aws, SSO or an instance role);"
        " see README 'Connect AWS'"
    ]
    assert captured.out == ""
    assert _stored(tmp_path) == []
