"""`/untagged` and Claim end to end: EC2 instances in moto's server, signed requests over HTTP
to the running app, the fake Slack Web API recording the answer, the modal opened with the
press's trigger_id, and the message updated through the press's response_url. What a user
would check: the tags on the instance in moto, the inventory row, the audit, the message."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import boto3
import pytest
from aws_deny_proxy import DenyProxy, unauthorized_operation
from fake_slack import (
    RESPONSE_URL,
    SIGNING_SECRET,
    block_actions_body,
    signed_request_headers,
    slash_command_body,
    view_submission_body,
)
from slack_app import http, post_signed
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from bot.config import parse_config
from bot.context import AppContext
from bot.render.claim import CLAIM_CALLBACK_ID
from bot.render.untagged import CLAIM_ACTION_ID
from bot.slack.app import build_app
from bot.slack.client import build_web_client
from bot.slack.server import start_http_in_thread
from bot.sources.aws.inventory import team_of
from bot.store import open_store, queries
from bot.store.writers import InventorySnapshot, write_inventory_snapshot
from handlers import register_all

TODAY = date(2026, 11, 21)
REGION = "us-east-1"
ALICE = "U0ALICE"
CHANNEL = "C0PAYMENTS"
CONFIG = parse_config(
    {
        "teams": [
            {"name": "payments", "channel": "#team-payments", "aliases": ["pay"]},
            {"name": "search", "channel": "#team-search"},
        ]
    }
)
IMAGE = "ami-12c6146b"  # one of moto's built-in AMIs (listing them all takes seconds)
PRESS_TRIGGER = "1000000000.1000000000.fedcba9876543210fedcba9876543210"


def _instance(ec2, tags: dict[str, str]) -> str:
    spec: dict[str, Any] = {"ImageId": IMAGE, "MinCount": 1, "MaxCount": 1}
    if tags:
        spec["TagSpecifications"] = [
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
    return ec2.run_instances(**spec)["Instances"][0]["InstanceId"]


def _moto_tags(instance_id: str) -> dict[str, str]:
    ec2 = boto3.client("ec2", region_name=REGION)
    found = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return {t["Key"]: t["Value"] for t in found.get("Tags", [])}


@pytest.fixture
def cloud(aws, tmp_path):
    """Three instances in moto and a store whose inventory and resource-level cost name
    them, plus one the inventory holds but moto no longer has."""
    ec2 = boto3.client("ec2", region_name=REGION)
    account = boto3.client("sts").get_caller_identity()["Account"]
    ids = {
        "half": _instance(ec2, {"team": "payments", "Product": "<!channel> & co"}),
        "bare": _instance(ec2, {}),
        "other": _instance(ec2, {"Team": "search"}),
        "gone": "i-0000000000000dead",
    }
    arns = {name: f"arn:aws:ec2:{REGION}:{account}:instance/{i}" for name, i in ids.items()}
    db_path = tmp_path / "costbot.db"
    db = open_store(db_path)
    rows = []
    for name, instance_id in ids.items():
        tags = _moto_tags(instance_id) if name != "gone" else {}
        rows.append(
            {
                "arn": arns[name],
                "resource_id": instance_id,
                "resource_type": "ec2:instance",
                "account_id": account,
                "region": REGION,
                "state": "running",
                "launched_at": "2026-11-01T00:00:00+00:00",
                "tags": tags,
                "team": team_of(tags, CONFIG),
                "idle": 0,
                "read_by": "ec2",
            }
        )
    write_inventory_snapshot(
        db, InventorySnapshot(account, REGION, "2026-11-20T06:00:00+00:00", {"ec2"}, rows)
    )
    costs = {"half": 40_000_000, "bare": 30_000_000, "other": 20_000_000, "gone": 10_000_000}
    db["resource_cost"].insert_all(
        {
            "month": "2026-11",
            "account_id": account,
            "resource_id": arns[name],
            "effective_micros": micros,
            "billed_micros": micros,
            "list_micros": micros,
        }
        for name, micros in costs.items()
    )
    db.close()
    return {"db_path": db_path, "ids": ids, "arns": arns, "account": account}


@pytest.fixture
def server(fake_slack, cloud):
    context = AppContext(config=CONFIG, db_path=str(cloud["db_path"]), today=lambda: TODAY)
    client = build_web_client(retry_interval=FixedValueRetryIntervalCalculator(0.01), timeout=2)
    background, port = start_http_in_thread(
        build_app(context, register=register_all, client=client)
    )
    yield f"http://127.0.0.1:{port}"
    background.shutdown()


def ask_untagged(server, fake_slack, text: str = "", name: str = "answer") -> dict:
    body = slash_command_body(
        "/untagged", text, ALICE, CHANNEL, fake_slack.response_url(name), channel_name="general"
    )
    assert post_signed(server, body) == 200
    fake_slack.wait_for(lambda c: c.method == RESPONSE_URL and c.target == name)
    (answer,) = fake_slack.responses_posted(name)
    return answer


def claim_block(answer: dict, arn: str) -> dict:
    (block,) = [
        b
        for b in answer["blocks"]
        if (b.get("accessory") or {}).get("action_id") == CLAIM_ACTION_ID
        and b["accessory"]["value"] == arn
    ]
    return block


def press_claim(
    server, fake_slack, answer: dict, arn: str, name: str = "press", *, is_ephemeral=True
) -> dict:
    """Press the Claim button of `arn` in the answer; the modal Slack was asked to open."""
    opened = len(fake_slack.opened_views)
    body = block_actions_body(
        ALICE,
        CHANNEL,
        fake_slack.response_url(name),
        CLAIM_ACTION_ID,
        arn,
        block_id=claim_block(answer, arn)["block_id"],
        is_ephemeral=is_ephemeral,
    )
    assert post_signed(server, body) == 200
    fake_slack.wait_for_count("views.open", opened + 1)
    return fake_slack.opened_views[-1]


def values_for(view: dict, chosen: dict[str, str], typed: dict[str, str]) -> dict:
    """`state.values` as Slack sends them: menus by option value, text fields as typed."""
    state: dict[str, dict[str, Any]] = {}
    for block in view["blocks"]:
        if block["type"] != "input":
            continue
        key = block["label"]["text"].split(":")[0]
        if block["element"]["type"] == "static_select":
            value = chosen.get(key)
            option = next((o for o in block["element"]["options"] if o["value"] == value), None)
            state[block["block_id"]] = {
                "value": {"type": "static_select", "selected_option": option}
            }
        else:
            state[block["block_id"]] = {
                "value": {"type": "plain_text_input", "value": typed.get(key)}
            }
    return state


def submit(server, view, values, *, secret=SIGNING_SECRET):
    body = view_submission_body(ALICE, view, values)
    return http(f"{server}/slack/events", body, signed_request_headers(body, secret))


def audit_rows(cloud) -> list[dict]:
    db = open_store(cloud["db_path"])
    try:
        return list(db.query("SELECT * FROM enforcement_audit ORDER BY id"))
    finally:
        db.close()


def inventory_row(cloud, name: str) -> dict:
    db = open_store(cloud["db_path"])
    try:
        return queries.inventory_resource(db, cloud["arns"][name])
    finally:
        db.close()


def test_claim_tags_the_instance_updates_the_store_audit_and_message(
    server, fake_slack, cloud
) -> None:
    answer = ask_untagged(server, fake_slack)
    assert answer["response_type"] == "ephemeral"
    assert "*Non-compliant cost*\n$100.00 of $100.00" in json.dumps(
        answer["blocks"], ensure_ascii=False
    ).replace("\\n", "\n")
    assert claim_block(answer, cloud["arns"]["half"])["block_id"].startswith("untagged_claim:")

    view = press_claim(server, fake_slack, answer, cloud["arns"]["half"])
    assert view["trigger_id"] == PRESS_TRIGGER
    assert view["callback_id"] == CLAIM_CALLBACK_ID
    team_menu = next(b for b in view["blocks"] if b.get("block_id") == "claim_tag:0:choice")
    offered = [o["value"] for o in team_menu["element"]["options"]]
    assert offered[:2] == ["payments", "search"]
    # Prefilled with what the instance already carries, under its own spelling (`team`).
    assert team_menu["element"]["initial_option"]["value"] == "payments"
    assert "&lt;" not in json.dumps(view) and "<!channel>" not in json.dumps(
        [o["text"] for b in view["blocks"] for o in (b.get("element") or {}).get("options", [])]
    )

    values = values_for(
        view,
        chosen={"Team": "payments"},
        typed={"Product": " checkout ", "Environment": "dev", "CostCenter": "CC-42"},
    )
    response = submit(server, view, values)
    assert response.status == 200 and not response.body.strip()  # the modal closes
    fake_slack.wait_for(lambda c: c.method == RESPONSE_URL and c.target == "press")
    (updated,) = fake_slack.responses_posted("press")

    instance = cloud["ids"]["half"]
    assert _moto_tags(instance) == {
        "team": "payments",
        "Product": "checkout",
        "Environment": "dev",
        "CostCenter": "CC-42",
    }
    row = inventory_row(cloud, "half")
    assert row["tags"] == _moto_tags(instance) and row["team"] == "payments"
    (audit,) = audit_rows(cloud)
    assert (audit["step"], audit["outcome"], audit["actor"]) == ("claim", "done", ALICE)
    assert audit["arn"] == cloud["arns"]["half"]
    assert "Product=checkout" in audit["reason"] and "team=payments" in audit["reason"]

    assert updated["replace_original"] is True
    shown = json.dumps(updated["blocks"], ensure_ascii=False)
    assert f"<@{ALICE}> claimed `{instance}` for `payments`" in shown
    assert "CostCenter=CC-42" in shown
    buttons = [
        b["accessory"]["value"]
        for b in updated["blocks"]
        if (b.get("accessory") or {}).get("action_id") == CLAIM_ACTION_ID
    ]
    assert cloud["arns"]["half"] not in buttons and cloud["arns"]["bare"] in buttons
    assert updated["blocks"][-1]["block_id"] == "costbot_share"  # still shareable
    # Exactly one answer and one update; the other instances untouched.
    assert len(fake_slack.responses_posted()) == 2
    assert _moto_tags(cloud["ids"]["bare"]) == {}


def test_an_empty_required_value_is_shown_in_the_modal_and_writes_nothing(
    server, fake_slack, cloud
) -> None:
    answer = ask_untagged(server, fake_slack)
    view = press_claim(server, fake_slack, answer, cloud["arns"]["bare"])
    values = values_for(
        view, chosen={"Team": "search"}, typed={"Product": "   ", "Environment": "aws:prod"}
    )
    response = submit(server, view, values)
    assert response.status == 200
    errors = response.json()
    assert errors["response_action"] == "errors"
    assert errors["errors"] == {
        "claim_tag:1:text": "Product is required.",
        "claim_tag:2:text": "Tags starting with `aws:` are reserved by AWS.",
        "claim_tag:3:text": "CostCenter is required.",
    }
    # A valid claim of another instance afterwards; once it is done, the first is untouched.
    other = press_claim(server, fake_slack, answer, cloud["arns"]["other"], name="press2")
    ok = values_for(
        other,
        chosen={"Team": "search"},
        typed={"Product": "idx", "Environment": "dev", "CostCenter": "9"},
    )
    assert submit(server, other, ok).status == 200
    fake_slack.wait_for(lambda c: c.method == RESPONSE_URL and c.target == "press2")
    assert _moto_tags(cloud["ids"]["bare"]) == {}
    assert [row["arn"] for row in audit_rows(cloud)] == [cloud["arns"]["other"]]
    assert fake_slack.responses_posted("press") == []


def test_a_forged_submission_gets_401_and_nothing_happens(server, fake_slack, cloud) -> None:
    answer = ask_untagged(server, fake_slack)
    view = press_claim(server, fake_slack, answer, cloud["arns"]["bare"])
    values = values_for(
        view,
        chosen={"Team": "payments"},
        typed={"Product": "p", "Environment": "dev", "CostCenter": "1"},
    )
    assert submit(server, view, values, secret="not-the-secret").status == 401
    press = block_actions_body(
        ALICE, CHANNEL, fake_slack.response_url("forged"), CLAIM_ACTION_ID, cloud["arns"]["bare"]
    )
    assert post_signed(server, press, secret="not-the-secret") == 401
    assert _moto_tags(cloud["ids"]["bare"]) == {}
    assert audit_rows(cloud) == []
    assert len(fake_slack.opened_views) == 1


def test_a_resource_gone_since_is_one_private_line_and_changes_nothing(
    server, fake_slack, cloud
) -> None:
    answer = ask_untagged(server, fake_slack)
    view = press_claim(server, fake_slack, answer, cloud["arns"]["gone"])
    values = values_for(
        view,
        chosen={"Team": "payments"},
        typed={"Product": "p", "Environment": "dev", "CostCenter": "1"},
    )
    assert submit(server, view, values).status == 200
    fake_slack.wait_for(lambda c: c.method == RESPONSE_URL and c.target == "press")
    (told,) = fake_slack.responses_posted("press")
    assert told == {
        "response_type": "ephemeral",
        "replace_original": False,
        "text": "i-0000000000000dead no longer exists: nothing was tagged.",
    }
    assert audit_rows(cloud) == []
    assert inventory_row(cloud, "gone")["tags"] == {}


def test_access_denied_is_one_private_line_and_changes_nothing(
    server, fake_slack, cloud, aws, monkeypatch
) -> None:
    """IAM refuses ec2:CreateTags (AWS's own error bytes, through a proxy before moto): the
    claimer hears why in one line; moto, the inventory and the audit stay as they were."""
    answer = ask_untagged(server, fake_slack)
    view = press_claim(server, fake_slack, answer, cloud["arns"]["bare"])
    values = values_for(
        view,
        chosen={"Team": "payments"},
        typed={"Product": "p", "Environment": "dev", "CostCenter": "1"},
    )
    with DenyProxy(aws) as proxy:
        proxy.rules.append(
            lambda call: unauthorized_operation() if call.action == "CreateTags" else None
        )
        monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", proxy.url)
        assert submit(server, view, values).status == 200
        fake_slack.wait_for(lambda c: c.method == RESPONSE_URL and c.target == "press")
    monkeypatch.delenv("AWS_ENDPOINT_URL_EC2")  # the proxy is gone: moto directly again
    (told,) = fake_slack.responses_posted("press")
    assert told["response_type"] == "ephemeral" and told["replace_original"] is False
    assert told["text"].startswith(
        f"Could not tag {cloud['ids']['bare']}: access denied: ec2:CreateTags in account "
    )
    assert "\n" not in told["text"]
    assert _moto_tags(cloud["ids"]["bare"]) == {}
    assert audit_rows(cloud) == []
    assert inventory_row(cloud, "bare")["tags"] == {}


def test_the_command_over_signed_requests(server, fake_slack, cloud) -> None:
    # In a team's channel, bare /untagged answers for that team.
    body = slash_command_body(
        "/untagged", "", ALICE, "C0SEARCH", fake_slack.response_url("mine"),
        channel_name="team-search",
    )  # fmt: skip
    assert post_signed(server, body) == 200
    fake_slack.wait_for(lambda c: c.method == RESPONSE_URL and c.target == "mine")
    (answer,) = fake_slack.responses_posted("mine")
    assert answer["blocks"][0]["text"]["text"].endswith("Tagging: team search")

    notice = ask_untagged(server, fake_slack, "team nobody 7d", name="bad")
    assert notice["response_type"] == "ephemeral"
    assert notice["text"].startswith("I don't know the team `nobody`")
    assert all(b.get("block_id") != "costbot_share" for b in notice["blocks"])

    forged = slash_command_body(
        "/untagged", "all", ALICE, CHANNEL, fake_slack.response_url("forged")
    )
    assert post_signed(server, forged, secret="not-the-secret") == 401
    assert fake_slack.responses_posted("forged") == []
    assert len(fake_slack.responses_posted()) == 2


def test_a_claim_from_the_shared_copy_updates_it_without_a_share_button(
    server, fake_slack, cloud
) -> None:
    answer = ask_untagged(server, fake_slack)
    view = press_claim(
        server, fake_slack, answer, cloud["arns"]["other"], name="shared", is_ephemeral=False
    )
    values = values_for(
        view,
        chosen={"Team": "search"},
        typed={"Product": "idx", "Environment": "dev", "CostCenter": "9"},
    )
    assert submit(server, view, values).status == 200
    fake_slack.wait_for(lambda c: c.method == RESPONSE_URL and c.target == "shared")
    (updated,) = fake_slack.responses_posted("shared")
    assert updated["replace_original"] is True
    assert all(b.get("block_id") != "costbot_share" for b in updated["blocks"])
    assert f"claimed `{cloud['ids']['other']}` for `search`" in json.dumps(updated["blocks"])
