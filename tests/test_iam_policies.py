"""The IAM policies the README tells admins to attach (docs/iam/): documents AWS's IAM accepts
(checked by moto's IAM policy validator over HTTP), read-only where they say so."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

IAM_DIR = Path(__file__).resolve().parents[1] / "docs" / "iam"
READ_ONLY = IAM_DIR / "costbot-read-only.json"
ENFORCEMENT = IAM_DIR / "costbot-enforcement.json"
ATHENA = IAM_DIR / "costbot-athena.json"
# Verbs of AWS actions that change nothing.
READ_VERBS = ("Get", "Describe", "List")


def _actions(policy: Path) -> set[str]:
    actions: set[str] = set()
    for statement in json.loads(policy.read_text())["Statement"]:
        listed = statement["Action"]
        actions |= {listed} if isinstance(listed, str) else set(listed)
    return actions


@pytest.mark.parametrize("policy", [READ_ONLY, ENFORCEMENT, ATHENA], ids=lambda p: p.name)
def test_iam_accepts_the_policy(aws, policy):
    iam = boto3.client("iam")
    created = iam.create_policy(PolicyName=policy.stem, PolicyDocument=policy.read_text())
    assert created["Policy"]["PolicyName"] == policy.stem


def test_the_read_only_policies_only_read():
    # The Athena policy writes query results to its own output prefix, and may stop its query.
    athena_own = {
        "athena:StartQueryExecution",
        "athena:StopQueryExecution",
        "s3:PutObject",
        "s3:AbortMultipartUpload",
    }
    writes = {
        action
        for action in _actions(READ_ONLY) | (_actions(ATHENA) - athena_own)
        if not action.split(":", 1)[1].startswith(READ_VERBS) and action != "sts:AssumeRole"
    }
    assert writes == set()


def test_enforcement_stops_and_terminates_only_resources_without_the_exemption_tag():
    statements = json.loads(ENFORCEMENT.read_text())["Statement"]
    destructive = {"ec2:StopInstances", "ec2:TerminateInstances", "rds:DeleteDBInstance"}
    for statement in statements:
        if destructive & set(statement["Action"]):
            assert statement["Condition"] == {"Null": {"aws:ResourceTag/costbot:exempt": "true"}}
