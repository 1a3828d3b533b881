"""Names users type, resolved against real stores: the anonymized FOCUS 1.0 sample (AWS,
Azure, OCI) and a multi-cloud organisation whose billing accounts share a name and whose
payer account is also a linked account. Amounts are checked against sums of the raw rows."""

from __future__ import annotations

import csv
import json
from datetime import date
from decimal import Decimal

import pytest
from focus_rows import dollars_of, focus_row, write_rows
from paths import FOCUS_SAMPLE

from bot.analytics import names
from bot.answers.cost import answer_cost
from bot.config import Config
from bot.sources.focus_ingest import ingest_focus
from bot.store import open_store

SAMPLE_TODAY = date(2024, 10, 5)  # the sample's charges are in September 2024


def sample_dollars(service: str) -> str:
    """The sample's EffectiveCost for one service, summed from the CSV itself."""
    with FOCUS_SAMPLE.open(newline="", encoding="utf-8") as handle:
        total = sum(
            (
                Decimal(row["EffectiveCost"])
                for row in csv.DictReader(handle)
                if row["ServiceName"] == service and row["EffectiveCost"] != "NULL"
            ),
            Decimal(0),
        )
    return f"${total.quantize(Decimal('0.01')):,.2f}"


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory):
    db_path = tmp_path_factory.mktemp("sample") / "costbot.db"
    ingest_focus([str(FOCUS_SAMPLE)], Config(), db_path)
    db = open_store(db_path)
    yield db
    db.close()


def ask(db, text, today=SAMPLE_TODAY):
    return answer_cost(text, db=db, config=Config(), today=today, with_chart=False)


def header(reply) -> str:
    return reply.payload["blocks"][0]["text"]["text"]


def body(reply) -> str:
    """The section under the header, where the total is shown to the cent."""
    return reply.payload["blocks"][1]["text"]["text"]


@pytest.mark.parametrize(
    ("typed", "service"),
    [
        ("ec2", "Amazon Elastic Compute Cloud"),
        ("EC2", "Amazon Elastic Compute Cloud"),
        ("s3", "Amazon Simple Storage Service"),
        ("rds", "Amazon Relational Database Service"),
        ("lambda", "AWS Lambda"),
        ("cloudfront", "Amazon CloudFront"),
        ("eks", "Amazon Elastic Container Service for Kubernetes"),
        ("ecs", "Amazon Elastic Container Service"),
        ("ecr", "Amazon EC2 Container Registry (ECR)"),
        ("dynamodb", "Amazon DynamoDB"),
        ("cloudwatch", "AmazonCloudWatch"),
        ("aks", "Azure Kubernetes Service"),
        ("vm", "Virtual Machines"),
        ("blob", "Storage Accounts"),
        ("oci compute", "COMPUTE"),
        ("block storage", "BLOCK_STORAGE"),
        ("route 53", "Amazon Route 53"),
        # An exact name wins over every short name and part of a name.
        ("compute", "COMPUTE"),
        ("amazon ec2 container registry (ecr)", "Amazon EC2 Container Registry (ECR)"),
    ],
)
def test_short_names_pick_the_service_they_mean_on_the_real_sample(sample_db, typed, service):
    reply = ask(sample_db, f"service {typed} 2024-09")
    assert not reply.is_error, reply.text
    assert header(reply).startswith(f"🧩 {service}:")
    assert f"*{sample_dollars(service)}*" in body(reply)


def test_ec2_is_thirteen_dollars_not_the_container_registry(sample_db):
    reply = ask(sample_db, "service ec2 2024-09")
    assert sample_dollars("Amazon Elastic Compute Cloud") == "$13.00"
    assert "*$13.00*" in body(reply) and "Container Registry" not in header(reply)


def test_an_ambiguous_name_asks_which_listing_every_candidate(sample_db):
    reply = ask(sample_db, "service storage")
    assert reply.is_error and reply.payload["response_type"] == "ephemeral"
    for candidate in ("Amazon Simple Storage Service", "Storage Accounts"):
        assert f"`{candidate}`" in reply.text
    assert "`s3`" in reply.text  # the short name to type for each candidate
    elastic = ask(sample_db, "service elastic")
    assert elastic.is_error and "could mean" in elastic.text
    assert "`Elastic Load Balancing`" in elastic.text


def test_a_short_name_never_falls_back_to_a_lookalike():
    services = ["Amazon EC2 Container Registry (ECR)", "AWS Lambda"]
    match = names.match_service("ec2", services)
    assert match.service is None and match.meant[0] == "Amazon Elastic Compute Cloud"
    assert names.match_service("ebs", services).hint  # says where EBS cost is billed
    assert names.match_service("lamb", services).service == "AWS Lambda"  # a word start
    assert names.match_service("", services) == names.ServiceMatch()


# A multi-cloud organisation: three billing accounts named "Acme Corp" (as the demo has);
# the AWS payer 111111111111 also has usage of its own; "Atlas Orion" names two sub-accounts.
AWS_PAYER = ("111111111111", "Acme Corp")
AZURE_BILLING = ("/providers/Microsoft.Billing/billingAccounts/7654", "Acme Corp")
GCP_BILLING = ("01A2B3-C4D5E6-F7A8B9", "Acme Corp")
SUBSCRIPTION = ("/subscriptions/3f2b8a71-6c1d-4e9a-b5f0-2d7c9e4a1b86", "Atlas Orion")
ORG_ROWS = [
    focus_row(date(2026, 10, 3), "100.25", team="payments", sub_account=("222222222222", "prod")),
    focus_row(date(2026, 10, 4), "7.10", sub_account=("333333333333", "Atlas Orion")),
    focus_row(date(2026, 10, 4), "15.33", service="AWS Support (Business)", sub_account=AWS_PAYER),
    focus_row(
        date(2026, 10, 5),
        "40.01",
        team="payments",
        service="Virtual Machines",
        provider="Microsoft",
        billing_account=AZURE_BILLING,
        sub_account=SUBSCRIPTION,
    ),
    focus_row(
        date(2026, 10, 5),
        "3.50",
        team="data",
        service="BigQuery",
        provider="Google Cloud",
        billing_account=GCP_BILLING,
        sub_account=("acme-analytics", "acme-analytics"),
    ),
]
ORG_TODAY = date(2026, 11, 2)


@pytest.fixture(scope="module")
def org_db(tmp_path_factory):
    folder = tmp_path_factory.mktemp("org")
    ingest_focus([str(write_rows(folder / "focus.csv", ORG_ROWS))], Config(), folder / "c.db")
    db = open_store(folder / "c.db")
    yield db
    db.close()


def test_an_id_that_is_both_billing_and_sub_account_answers_the_account_and_says_so(org_db):
    reply = ask(org_db, "account 111111111111 2026-10", ORG_TODAY)
    own = dollars_of(ORG_ROWS, SubAccountId="111111111111")
    assert own == "$15.33"
    assert header(reply).startswith("🏦 account 111111111111:")
    assert f"*{own}*" in body(reply)
    assert "Acme Corp" not in header(reply)
    note = json.dumps(reply.payload)
    assert "also the billing account Acme Corp" in note
    assert "/cost account billing 111111111111" in note

    billed = ask(org_db, "account billing 111111111111 2026-10", ORG_TODAY)
    everything = dollars_of(ORG_ROWS, BillingAccountId="111111111111")
    assert everything == "$122.68"
    assert header(billed).startswith("🏦 billing account Acme Corp (111111111111):")
    assert f"*{everything}*" in body(billed)


def test_a_name_of_several_accounts_asks_which_listing_ids(org_db):
    reply = ask(org_db, "account Acme Corp", ORG_TODAY)
    assert reply.is_error
    for account_id in (AWS_PAYER[0], AZURE_BILLING[0], GCP_BILLING[0]):
        assert f"billing account `{account_id}`" in reply.text
    shared = ask(org_db, "account atlas orion 2026-10", ORG_TODAY)
    assert shared.is_error and "`333333333333`" in shared.text and SUBSCRIPTION[0] in shared.text


def test_accounts_by_name_by_id_and_by_subscription_guid(org_db):
    by_name = ask(org_db, "account PROD 2026-10", ORG_TODAY)
    assert header(by_name).startswith("🏦 account prod (222222222222):")
    guid = SUBSCRIPTION[0].rsplit("/", 1)[1]
    by_guid = ask(org_db, f"account {guid} 2026-10", ORG_TODAY)
    assert f"*{dollars_of(ORG_ROWS, SubAccountId=SUBSCRIPTION[0])}*" in body(by_guid)
    unknown = ask(org_db, "account 999", ORG_TODAY)
    assert unknown.is_error and "I don't know the account `999`" in unknown.text


def test_top_accounts_labels_the_payer_by_its_id_not_the_billing_name(org_db):
    reply = ask(org_db, "top accounts 2026-10", ORG_TODAY)
    table = json.dumps(reply.payload)
    assert "Acme Corp" not in table
    assert "prod (222222222222)" in table and "111111111111" in table
    assert {a.kind for a in names.known_accounts(org_db)} == {"billing", "sub"}
