"""A synthetic but realistic cloud organisation, written as FOCUS 1.0 CSV exports.

`costbot demo` and the tests ingest these files through the same path as real exports, so the
files follow the spec as AWS, Microsoft and Google Cloud write it: the 43 FOCUS 1.0 columns,
one row per resource per day, costs as exact decimal strings. The organisation has growth,
weekly seasonality, month-start fees, a Savings Plan (used on weekdays, partly unused at
weekends, outgrown as the fleet grows), spot instances, credits, untagged and shared spend, tag
spellings that need aliases, and injected anomalies (see `demo_anomalies`). Everything comes
from one `random.Random(seed)`, so a seed always gives byte-identical files.
"""

from __future__ import annotations

import calendar
import csv
import json
import random
import shutil
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import sqlite_utils

from bot.config import Config
from bot.sources.aws.inventory import resource_id_of, resource_type_of, team_of
from bot.store.writers import InventorySnapshot, write_inventory_snapshot

CONFIG_TEMPLATE = Path(__file__).with_name("demo_config.yml")
# The layout under the demo's output folder. Business metrics sit beside the FOCUS files, not
# among them, so `costbot ingest focus <out>/data/` loads the cost exports and nothing else.
FOCUS_DIR_NAME = "data"
METRICS_DIR_NAME = "metrics"
METRICS_FILE_NAME = "business_metrics.csv"
ORGANISATION = ""  # a business metric's scope for the whole organisation
CONFIG_FILE_NAME = "costbot.yml"
# fmt: off
FOCUS_COLUMNS = (
    "AvailabilityZone", "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency",
    "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription",
    "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart", "CommitmentDiscountCategory",
    "CommitmentDiscountId", "CommitmentDiscountName", "CommitmentDiscountStatus",
    "CommitmentDiscountType", "ConsumedQuantity", "ConsumedUnit", "ContractedCost",
    "ContractedUnitPrice", "EffectiveCost", "InvoiceIssuerName", "ListCost", "ListUnitPrice",
    "PricingCategory", "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName",
    "RegionId", "RegionName", "ResourceId", "ResourceName", "ResourceType", "ServiceCategory",
    "ServiceName", "SkuId", "SkuPriceId", "SubAccountId", "SubAccountName", "Tags",
)
# AWS's "FOCUS 1.0 with AWS columns" export adds its own x_ columns; the usage type is the one
# root causes of anomalies name ("USE1-BoxUsage:m6i.large"). Azure and GCP files have the 43.
AWS_COLUMNS = (*FOCUS_COLUMNS, "x_UsageType")
# fmt: on
COST_PLACES = Decimal("1E-10")  # exports carry at most 10 decimal places
DAYS_PER_MONTH = 30.44
SAVINGS_PLAN_RATE = Decimal("0.72")  # a 1-year Compute Savings Plan: 28% off on-demand
# The plan's hourly commitment, as a share of what the usage it covers cost (at the plan's rate)
# on a weekday when the plan was bought: weekend dips leave some of it unused, growth outgrows it.
SAVINGS_PLAN_SIZING = Decimal("0.92")
SPOT_RATE = Decimal("0.32")  # spot instances: 68% off the on-demand price
ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


# Per provider: ProviderName, and the PublisherName and InvoiceIssuerName its exports carry.
PROVIDERS = {
    "aws": ("AWS", "Amazon Web Services, Inc."),
    "azure": ("Microsoft", "Microsoft"),
    "gcp": ("Google Cloud", "Google Cloud"),
}
REGIONS = {"us-east-1": "US East (N. Virginia)", "westeurope": "West Europe", "us-central1": "Iowa"}


@dataclass(frozen=True)
class Account:
    provider: str
    billing_id: str
    billing_name: str
    sub_id: str  # SubAccountId as the provider writes it
    sub_name: str
    region: str
    environment: str  # the `environment` tag of what runs in it

    @property
    def id_part(self) -> str:
        """What resource ids embed: account number, subscription GUID or project id."""
        return self.sub_id.removeprefix("/subscriptions/")


AWS_PAYER = ("111111111111", "Acme Corp")
AZURE_BILLING = ("/providers/Microsoft.Billing/billingAccounts/76543210", "Acme Corp")
AZURE_SUBSCRIPTION = "/subscriptions/3f2b8a71-6c1d-4e9a-b5f0-2d7c9e4a1b86"
GCP_BILLING = ("01A2B3-C4D5E6-F7A8B9", "Acme Corp")
# The management account buys the Savings Plan and pays for support.
PAYER = Account("aws", *AWS_PAYER, "111111111111", "acme-management", "us-east-1", "prod")
# fmt: off
ACCOUNTS = {
    "prod": Account("aws", *AWS_PAYER, "222222222222", "acme-prod", "us-east-1", "prod"),
    "staging": Account("aws", *AWS_PAYER, "333333333333", "acme-staging", "us-east-1", "staging"),
    "data": Account("aws", *AWS_PAYER, "444444444444", "acme-data", "us-east-1", "prod"),
    "sandbox": Account("aws", *AWS_PAYER, "555555555555", "acme-dev", "us-east-1", "dev"),
    "azure": Account("azure", *AZURE_BILLING, AZURE_SUBSCRIPTION, "acme-azure-prod", "westeurope",
                     "prod"),
    "gcp": Account("gcp", *GCP_BILLING, "acme-analytics-prod", "acme-analytics-prod",
                   "us-central1", "prod"),
}
# fmt: on


@dataclass(frozen=True)
class Service:
    name: str  # ServiceName as the provider writes it
    category: str  # FOCUS 1.0 ServiceCategory
    resource_type: str
    unit: str  # ConsumedUnit and PricingUnit
    price: str  # list price per unit (of the smallest size when sized)
    weekend: float  # weekend usage relative to a weekday: compute scales down, storage does not
    sku_label: str  # ChargeDescription after the price; {size} is the instance size
    id_template: str  # fields: region, account (id_part), name, snake (name_in_snake_case),
    # hex and code (random ids)
    sizes: tuple[str, ...] = ()  # instance sizes, each twice the price of the one before
    fixed_hours: bool = False  # billed per hour of existence (EKS control plane): 24 a day


def _ladder(template: str, names: str) -> tuple[str, ...]:
    return tuple(template.format(n) for n in names.split())


AZURE_RG = "/subscriptions/{account}/resourcegroups/rg-{name}/providers/microsoft."
# fmt: off
SERVICES = {
    "ec2": Service("Amazon Elastic Compute Cloud", "Compute", "Instance", "Hours", "0.096", 0.72,
        "On Demand Linux {size} Instance Hour", "arn:aws:ec2:{region}:{account}:instance/i-{hex}",
        _ladder("m6i.{}", "large xlarge 2xlarge 4xlarge 8xlarge 16xlarge 32xlarge")),
    "rds": Service("Amazon Relational Database Service", "Databases", "DB Instance", "Hours",
        "0.215", 0.93, "{size} Multi-AZ instance hour running PostgreSQL",
        "arn:aws:rds:{region}:{account}:db:{name}",
        _ladder("db.r6g.{}", "large xlarge 2xlarge 4xlarge 8xlarge 16xlarge")),
    "s3": Service("Amazon Simple Storage Service", "Storage", "Bucket", "GB-Mo", "0.023", 1.0,
        "per GB - first 50 TB / month of storage used", "arn:aws:s3:::acme-{name}"),
    "lambda": Service("AWS Lambda", "Compute", "Function", "Lambda-GB-Second", "0.0000166667", 0.7,
        "per Lambda-GB-Second", "arn:aws:lambda:{region}:{account}:function:{name}"),
    "dynamodb": Service("Amazon DynamoDB", "Databases", "Table", "WriteRequestUnits", "0.00000125",
        0.85, "per WriteRequestUnit (on-demand)",
        "arn:aws:dynamodb:{region}:{account}:table/{name}"),
    "cloudfront": Service("Amazon CloudFront", "Networking", "Distribution", "GB", "0.085", 0.85,
        "per GB data transfer out of CloudFront - United States",
        "arn:aws:cloudfront::{account}:distribution/E{code}"),
    "eks": Service("Amazon Elastic Kubernetes Service", "Compute", "Cluster", "Hours", "0.10", 1.0,
        "per hour per Amazon EKS cluster", "arn:aws:eks:{region}:{account}:cluster/{name}",
        fixed_hours=True),
    "elasticache": Service("Amazon ElastiCache", "Databases", "Cluster", "NodeUsage", "0.206", 0.93,
        "{size} node hour", "arn:aws:elasticache:{region}:{account}:replicationgroup:{name}",
        _ladder("cache.r6g.{}", "large xlarge 2xlarge 4xlarge 8xlarge")),
    "sqs": Service("Amazon Simple Queue Service", "Integration", "Queue", "Requests", "0.0000004",
        0.75, "per Amazon SQS standard request", "arn:aws:sqs:{region}:{account}:{name}"),
    "cloudwatch": Service("Amazon CloudWatch", "Management and Governance", "Log Group", "GB",
        "0.50", 0.85, "per GB of log data ingested",
        "arn:aws:logs:{region}:{account}:log-group:/acme/{name}"),
    "redshift": Service("Amazon Redshift", "Analytics", "Cluster", "Node-Hours", "3.26", 0.9,
        "per ra3.4xlarge node hour", "arn:aws:redshift:{region}:{account}:cluster:{name}"),
    "opensearch": Service("Amazon OpenSearch Service", "Analytics", "Domain", "Hours", "0.335",
        0.95, "per r6g.xlarge.search instance hour", "arn:aws:es:{region}:{account}:domain/{name}"),
    "transfer": Service("AWS Data Transfer", "Networking", "Transit Gateway", "GB", "0.02", 0.8,
        "per GB - inter-region data transfer",
        "arn:aws:ec2:{region}:{account}:transit-gateway/tgw-{hex}"),
    "sagemaker": Service("Amazon SageMaker", "AI and Machine Learning", "Endpoint", "Hours",
        "1.515", 0.8, "per ml.g5.2xlarge hour",
        "arn:aws:sagemaker:{region}:{account}:endpoint/{name}"),
    "cognito": Service("Amazon Cognito", "Identity", "User Pool", "MAU", "0.0055", 0.95,
        "per monthly active user",
        "arn:aws:cognito-idp:{region}:{account}:userpool/{region}_{code}"),
    "vm": Service("Virtual Machines", "Compute", "Virtual machine", "Hours", "0.096", 0.75,
        "{size} Linux", AZURE_RG + "compute/virtualmachines/{name}",
        _ladder("Standard_D{}s_v5", "2 4 8 16 32 64")),
    "sql": Service("Azure SQL Database", "Databases", "SQL database", "Hours", "0.5044", 0.93,
        "SQL Database Single {size} vCore hours", AZURE_RG + "sql/servers/{name}/databases/main",
        _ladder("GP_Gen5_{}", "2 4 8 16 32")),
    "blob": Service("Storage", "Storage", "Storage account", "1 GB/Month", "0.0184", 1.0,
        "Hot LRS Data Stored", AZURE_RG + "storage/storageaccounts/acme{hex}"),
    "gce": Service("Compute Engine", "Compute", "Instance", "Hours", "0.097118", 0.75,
        "{size} running in Americas",
        "//compute.googleapis.com/projects/{account}/zones/{region}-a/instances/{name}",
        _ladder("n2-standard-{}", "2 4 8 16 32 64")),
    "bigquery": Service("BigQuery", "Analytics", "Dataset", "Tebibytes", "6.25", 0.7,
        "Analysis (on-demand) in US multi-region",
        "//bigquery.googleapis.com/projects/{account}/datasets/{snake}"),
    "gcs": Service("Cloud Storage", "Storage", "Bucket", "Gibibyte months", "0.020", 1.0,
        "Standard Storage US Multi-region",
        "//storage.googleapis.com/projects/_/buckets/acme-{name}"),
}
# AWS usage types (x_UsageType) per ServiceName, after the region's prefix ("USE1-");
# {size} is the instance size. Spot fleets use SpotUsage instead of BoxUsage.
AWS_USAGE_TYPES = {
    "Amazon Elastic Compute Cloud": "BoxUsage:{size}",
    "Amazon Relational Database Service": "Multi-AZUsage:{size}",
    "Amazon Simple Storage Service": "TimedStorage-ByteHrs",
    "AWS Lambda": "Lambda-GB-Second",
    "Amazon DynamoDB": "WriteRequestUnits",
    "Amazon CloudFront": "DataTransfer-Out-Bytes",
    "Amazon Elastic Kubernetes Service": "AmazonEKS-Hours:perCluster",
    "Amazon ElastiCache": "NodeUsage:{size}",
    "Amazon Simple Queue Service": "Requests-Tier1",
    "Amazon CloudWatch": "DataProcessing-Bytes",
    "Amazon Redshift": "Node:ra3.4xlarge",
    "Amazon OpenSearch Service": "ESInstance:r6g.xlarge.search",
    "AWS Data Transfer": "USW2-AWS-Out-Bytes",
    "Amazon SageMaker": "Host:ml.g5.2xlarge",
    "Amazon Cognito": "CognitoUserPoolsMAU",
}
AWS_REGION_PREFIXES = {"us-east-1": "USE1"}
# The Savings Plan's own lines (its fee and its unused commitment).
SAVINGS_PLAN_USAGE_TYPE = "ComputeSP:1yrNoUpfront"
# fmt: on


@dataclass(frozen=True)
class TeamSpec:
    growth: float  # per month
    product: str  # the `product` tag and a monthly_active_users scope
    cost_center: str
    # (service, account, dollars a day at the start, how many resources share them)
    resources: tuple[tuple[str, str, int, int], ...]


# fmt: off
TEAMS = {
    "payments": TeamSpec(0.025, "merchant-portal", "cc-1010", (("ec2", "prod", 380, 6),
        ("rds", "prod", 280, 3), ("dynamodb", "prod", 130, 2), ("lambda", "prod", 45, 2),
        ("sqs", "prod", 25, 1), ("s3", "prod", 30, 1), ("ec2", "staging", 60, 1),
        ("rds", "staging", 40, 1))),
    "checkout": TeamSpec(0.03, "storefront", "cc-1020", (("ec2", "prod", 420, 9),
        ("elasticache", "prod", 110, 1), ("rds", "prod", 200, 3), ("lambda", "prod", 35, 2),
        ("sqs", "prod", 20, 1), ("ec2", "staging", 70, 2))),
    "search": TeamSpec(0.02, "storefront", "cc-1030", (("opensearch", "prod", 520, 2),
        ("ec2", "prod", 260, 4), ("elasticache", "prod", 90, 1), ("s3", "prod", 25, 1),
        ("opensearch", "staging", 60, 1), ("ec2", "staging", 50, 1))),
    "platform": TeamSpec(0.015, "core-platform", "cc-1040", (("ec2", "prod", 600, 7),
        ("cloudwatch", "prod", 60, 1), ("s3", "prod", 40, 1), ("ec2", "staging", 120, 2),
        ("vm", "azure", 150, 3))),
    "data": TeamSpec(0.04, "data-platform", "cc-1050", (("redshift", "data", 700, 1),
        ("s3", "data", 260, 3), ("ec2", "data", 200, 3), ("bigquery", "gcp", 180, 2),
        ("gcs", "gcp", 40, 1))),
    "mobile": TeamSpec(0.035, "mobile-app", "cc-1060", (("cloudfront", "prod", 220, 2),
        ("lambda", "prod", 90, 3), ("dynamodb", "prod", 80, 2), ("s3", "prod", 50, 1),
        ("ec2", "staging", 40, 1))),
    "identity": TeamSpec(0.02, "core-platform", "cc-1070", (("rds", "prod", 150, 2),
        ("ec2", "prod", 140, 2), ("dynamodb", "prod", 40, 1), ("cognito", "prod", 60, 1),
        ("sql", "azure", 110, 1))),
    "ml": TeamSpec(0.06, "data-platform", "cc-1080", (("sagemaker", "prod", 420, 2),
        ("ec2", "data", 380, 8), ("s3", "data", 70, 1), ("gce", "gcp", 120, 4))),
    "shared-infra": TeamSpec(0.015, "core-platform", "cc-1000", (("eks", "prod", 5, 2),
        ("eks", "staging", 2, 1), ("transfer", "prod", 260, 2), ("cloudwatch", "prod", 180, 2),
        ("cloudwatch", "staging", 30, 1), ("blob", "azure", 40, 1))),
}
# Resources nobody tagged with a team: name, service, account, dollars a day, tags without a team.
UNTAGGED = (
    ("old-jenkins", "ec2", "sandbox", 100, None),
    ("ci-artifacts", "s3", "staging", 90, {"environment": "dev", "Name": "ci-artifacts"}),
    ("vpn-peering", "transfer", "prod", 90, None),
    ("legacy-reporting", "vm", "azure", 50, {"environment": "prod"}),
    ("notebook-scratch", "gce", "gcp", 45, None),
    ("load-test", "ec2", "staging", 60, {"Name": "load-test", "owner": "jdoe"}),
)
# Ways people write a team's tag value; the config's aliases map the odd ones back.
TAG_SPELLINGS = {
    "platform": ("platform", "Platform", "Platform Engineering", "plat-eng"),
    "data": ("data", "Data", "data-eng"),
    "ml": ("ml", "ML", "machine-learning"),
}
TAG_KEYS = ("Team",) * 7 + ("team", "team", "owner-team")
COVERED_BY_SAVINGS_PLAN = ("ec2", "prod")  # service and account the Compute Savings Plan covers
# Fleets that run on spot instances (team, service, account): batch, training and CI runners.
ON_SPOT = {("ml", "ec2", "data"), ("data", "ec2", "data"), ("platform", "ec2", "staging")}
SAVINGS_PLAN_SERVICE = "Savings Plans for AWS Compute usage"
SAVINGS_PLAN_ID = (
    "arn:aws:savingsplans::111111111111:savingsplan/4e1c7a52-9b0d-4f36-8d2e-a1b3c5d7e9f0"
)
# (months after the start, day of month, account, service key, amount, description)
CREDITS = (
    (3, 15, "prod", "ec2", "-4000", "AWS Migration Acceleration Program credit"),
    (8, 4, "gcp", "bigquery", "-1500", "Google Cloud promotional credit"),
)
# Business metrics: daily base values at the start, per scope.
API_REQUESTS = {"payments": 38e6, "checkout": 61e6, "search": 15e7, "mobile": 72e6, "identity": 9e7}
# monthly_active_users per product: (users at the start, growth per month)
ACTIVE_USERS = {"storefront": (1.25e6, 0.025), "mobile-app": (8.2e5, 0.03),
                "merchant-portal": (26e3, 0.02)}
ORDERS_PER_DAY = 45e3
# fmt: on


@dataclass(frozen=True)
class Anomaly:
    team: str
    service: str  # ServiceName
    first_day: date
    last_day: date | None  # None: a level shift that persists to the end
    factor: float

    def applies(self, team: str | None, service: str, day: date) -> bool:
        last = self.last_day or day
        return team == self.team and service == self.service and self.first_day <= day <= last


def demo_anomalies(end_date: date) -> list[Anomaly]:
    """The anomalies injected for an end date, so tests and demos know where to look."""
    one_day = timedelta(days=1)
    runaway_job = first_day(end_date) + 160 * one_day
    return [
        # a runaway training job: two days at 4x, mid-year
        Anomaly("ml", "Amazon SageMaker", runaway_job, runaway_job + one_day, 4.0),
        # checkout moves to a bigger fleet and stays there
        Anomaly("checkout", "Amazon Elastic Compute Cloud", end_date - 100 * one_day, None, 1.6),
        # a hot-partition retry storm, still going on at end_date: something recent to alert on
        Anomaly("payments", "Amazon DynamoDB", end_date - one_day, end_date, 4.0),
    ]


@dataclass(frozen=True)
class DemoFiles:
    focus_files: list[Path]  # data/: one CSV per provider per billing month, aws-2026-10.csv
    metrics_file: Path  # metrics/business_metrics.csv
    config_file: Path  # costbot.yml: a copy of the demo config


@dataclass(frozen=True)
class Resource:
    team: str | None  # None: untagged
    service: Service
    account: Account
    daily_cost: float  # at the start, before growth, seasonality and noise
    growth: float  # per month
    resource_id: str
    name: str
    tags: str  # a JSON object, or "" for no tags at all
    covered: bool  # eligible for the Compute Savings Plan (usage beyond it is on demand)
    spot: bool  # runs on spot instances (PricingCategory Dynamic)
    size: str  # instance size, "" for services without sizes
    unit_price: Decimal
    sku_id: str
    sku_price_id: str


def first_day(end_date: date) -> date:
    """The first day of the month 12 months before end_date's month: 13 calendar months."""
    return date(end_date.year - 1, end_date.month, 1)


def _next_month(month_start: date) -> date:
    return (month_start.replace(day=28) + timedelta(days=4)).replace(day=1)


def _timestamp(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _money(value: Decimal) -> str:
    return f"{value.quantize(COST_PLACES):f}"


def _code(rng: random.Random, length: int, alphabet: str = ID_ALPHABET) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


def _sku_ids(rng: random.Random, provider: str) -> tuple[str, str]:
    """SkuId and SkuPriceId in each provider's shape."""
    if provider == "aws":  # JRTCKXETXF is AWS's offer term code for On Demand
        sku = _code(rng, 16)
        return sku, f"{sku}.JRTCKXETXF.{_code(rng, 10)}"
    if provider == "azure":
        sku = f"{_code(rng, 12)}/{_code(rng, 4)}"
        return sku, f"{sku}/{_code(rng, 4)}"
    sku = "-".join(_code(rng, 4, "0123456789ABCDEF") for _ in range(3))
    return sku, sku


def _tags(rng: random.Random, team: str, account: Account) -> str:
    spellings = TAG_SPELLINGS.get(team, (team, team.capitalize()))
    key, value = rng.choice(TAG_KEYS), rng.choice(spellings)
    if account.provider == "gcp":  # GCP labels allow only lower-case keys and values
        key, value = "team", next(s for s in spellings if s == s.lower() and " " not in s)
    spec = TEAMS[team]
    tags = {key: value, "environment": account.environment, "product": spec.product}
    return json.dumps(tags | {"cost-center": spec.cost_center})


def _spec_list(rng: random.Random) -> list[tuple[str | None, str, str, str, float, float, str]]:
    """(team, name, service, account, dollars a day, growth, tags) for every resource."""
    specs: list[tuple[str | None, str, str, str, float, float, str]] = []
    for team, spec in TEAMS.items():
        for service_key, account_key, daily, count in spec.resources:
            for index in range(count):
                suffix = f"-{index + 1}" if count > 1 else ""
                name = f"{team}-{service_key}-{ACCOUNTS[account_key].environment}{suffix}"
                share = daily / count * rng.uniform(0.8, 1.2)
                tags = _tags(rng, team, ACCOUNTS[account_key])
                specs.append((team, name, service_key, account_key, share, spec.growth, tags))
    for name, service_key, account_key, daily, loose_tags in UNTAGGED:
        tags = json.dumps(loose_tags) if loose_tags else ""
        specs.append((None, name, service_key, account_key, daily, 0.02, tags))
    return specs


def _build_resources(rng: random.Random) -> list[Resource]:
    skus: dict[tuple[str, int, str], tuple[str, str]] = {}
    resources = []
    for team, name, service_key, account_key, daily, growth, tags in _spec_list(rng):
        service, account = SERVICES[service_key], ACCOUNTS[account_key]
        # The smallest size whose hours a day stay under 24 after a year of growth.
        hours_now = 18 / (1 + growth) ** 12
        size_index = 0
        while (
            size_index + 1 < len(service.sizes)
            and daily > hours_now * float(service.price) * 2**size_index
        ):
            size_index += 1
        sku_key = (service_key, size_index, account.region)
        if sku_key not in skus:
            skus[sku_key] = _sku_ids(rng, account.provider)
        resource_id = service.id_template.format(
            region=account.region,
            account=account.id_part,
            name=name,
            snake=name.replace("-", "_"),
            hex=f"{rng.getrandbits(68):017x}",
            code=_code(rng, 13),
        )
        resources.append(
            Resource(
                team, service, account, daily, growth, resource_id, name, tags,
                covered=(service_key, account_key) == COVERED_BY_SAVINGS_PLAN,
                spot=(team, service_key, account_key) in ON_SPOT,
                size=service.sizes[size_index] if service.sizes else "",
                unit_price=Decimal(service.price) * 2**size_index,
                sku_id=skus[sku_key][0], sku_price_id=skus[sku_key][1],
            )
        )  # fmt: skip
    return resources


# fmt: off
def _base_row(account: Account, month_start: date, day: date, period_end: date) -> dict[str, str]:
    provider_name, company = PROVIDERS[account.provider]
    return {
        "BillingAccountId": account.billing_id, "BillingAccountName": account.billing_name,
        "SubAccountId": account.sub_id, "SubAccountName": account.sub_name,
        "BillingCurrency": "USD",
        "BillingPeriodStart": _timestamp(month_start),
        "BillingPeriodEnd": _timestamp(_next_month(month_start)),
        "ChargePeriodStart": _timestamp(day), "ChargePeriodEnd": _timestamp(period_end),
        "ProviderName": provider_name, "PublisherName": company, "InvoiceIssuerName": company,
    }


def _costs(billed: Decimal, effective: Decimal, list_cost: Decimal) -> dict[str, str]:
    """No negotiated discount: ContractedCost is ListCost."""
    return {"BilledCost": _money(billed), "EffectiveCost": _money(effective),
            "ListCost": _money(list_cost), "ContractedCost": _money(list_cost)}


def _quantity(resource: Resource, cost: float) -> Decimal:
    """The units a resource used in a day that cost `cost` at its price (spot: the spot price)."""
    price = resource.unit_price * (SPOT_RATE if resource.spot else 1)
    if resource.service.fixed_hours:
        return Decimal(24)
    if price < Decimal("0.001"):  # requests and the like are counted in whole units
        return Decimal(round(cost / float(price)))
    return Decimal(f"{cost / float(price):.6f}")


def _usage_row(
    resource: Resource,
    month_start: date,
    day: date,
    quantity: Decimal,
    covered_effective: Decimal | None = None,
) -> dict[str, str]:
    """One resource's day (or the part of it the Savings Plan covers, or the part it does not).

    `covered_effective`: this row is usage the Savings Plan covered, at that amortized cost.
    As in AWS's FOCUS export, covered usage is billed through the plan's fee, so its BilledCost
    is 0 and its EffectiveCost the plan's rate; spot usage is PricingCategory Dynamic, billed
    at the spot price, with the on-demand price as its ListCost."""
    service, account, price = resource.service, resource.account, resource.unit_price
    list_cost = quantity * price
    row = _base_row(account, month_start, day, day + timedelta(days=1))
    description = f"${price:f} {service.sku_label.format(size=resource.size)}"
    if covered_effective is not None:
        row |= _costs(Decimal(0), covered_effective, list_cost)
        row |= SAVINGS_PLAN_COLUMNS | {"CommitmentDiscountStatus": "Used"}
        pricing = "Committed"
    elif resource.spot:
        spot_price = price * SPOT_RATE
        spot_cost = quantity * spot_price
        row |= _costs(spot_cost, spot_cost, list_cost) | {"ContractedCost": _money(spot_cost)}
        label = service.sku_label.format(size=resource.size).replace("On Demand", "Spot")
        description = f"${spot_price:f} {label}"
        pricing = "Dynamic"
    else:
        row |= _costs(list_cost, list_cost, list_cost)
        pricing = "Standard"
    if resource.size and account.provider == "aws":
        row["AvailabilityZone"] = f"{account.region}a"
    if account.provider == "aws":
        row["x_UsageType"] = _usage_type(resource, spot=pricing == "Dynamic")
    return row | {
        "ChargeCategory": "Usage", "ChargeFrequency": "Usage-Based",
        "ChargeDescription": description,
        "ConsumedQuantity": f"{quantity:f}", "ConsumedUnit": service.unit,
        "PricingQuantity": f"{quantity:f}", "PricingUnit": service.unit,
        "ListUnitPrice": f"{price:f}",
        "ContractedUnitPrice": f"{price * SPOT_RATE:f}" if pricing == "Dynamic" else f"{price:f}",
        "PricingCategory": pricing,
        "RegionId": account.region, "RegionName": REGIONS[account.region],
        "ResourceId": resource.resource_id, "ResourceName": resource.name,
        "ResourceType": service.resource_type, "Tags": resource.tags,
        "ServiceCategory": service.category, "ServiceName": service.name,
        "SkuId": resource.sku_id,
        "SkuPriceId": f"{resource.sku_id}.SPOT" if pricing == "Dynamic" else resource.sku_price_id,
    }  # fmt: skip


def _usage_type(resource: Resource, spot: bool) -> str:
    usage = AWS_USAGE_TYPES[resource.service.name].format(size=resource.size)
    if spot:
        usage = usage.replace("BoxUsage", "SpotUsage")
    return f"{AWS_REGION_PREFIXES[resource.account.region]}-{usage}"


def _unused_commitment_row(month_start: date, day: date, unused: Decimal) -> dict[str, str]:
    """The part of a day's Savings Plan commitment no usage consumed, as the FOCUS spec's AWS
    examples write it: a Usage row of status Unused, BilledCost 0 (the fee bills it),
    EffectiveCost the commitment wasted, no quantity consumed. Its resource is the plan's ARN,
    as on the plan's lines in AWS's Cost and Usage Report."""
    row = _base_row(PAYER, month_start, day, day + timedelta(days=1))
    row |= _costs(Decimal(0), unused, unused)
    return row | SAVINGS_PLAN_COLUMNS | {
        "CommitmentDiscountStatus": "Unused", "ChargeCategory": "Usage",
        "ChargeFrequency": "Usage-Based", "PricingCategory": "Committed",
        "ChargeDescription": "Unused Compute Savings Plan commitment",
        "x_UsageType": SAVINGS_PLAN_USAGE_TYPE,
        "PricingQuantity": _money(unused), "PricingUnit": "USD", "ListUnitPrice": "1",
        "ContractedUnitPrice": "1", "ResourceId": SAVINGS_PLAN_ID,
        "ServiceCategory": "Compute", "ServiceName": SAVINGS_PLAN_SERVICE,
    }  # fmt: skip


def _savings_plan_day(
    usage: list[tuple[Resource, Decimal]], daily_commitment: Decimal, month_start: date, day: date
) -> list[dict[str, str]]:
    """The rows of the plan's eligible usage on one day, and its unused commitment. The plan
    applies up to its commitment: when the usage at the plan's rate exceeds it, each
    resource's day is split into a covered and an on-demand part in the same proportion (AWS
    splits a resource's hour the same way). Used plus unused is the commitment, to the cent
    and beyond, so billed and amortized totals agree for a full month."""
    need = sum((q * r.unit_price * SAVINGS_PLAN_RATE for r, q in usage), Decimal(0))
    share = min(Decimal(1), daily_commitment / need) if need else Decimal(1)
    rows, used = [], Decimal(0)
    for index, (resource, quantity) in enumerate(usage):
        covered = quantity if share == 1 else (quantity * share).quantize(Decimal("0.000001"))
        effective = (covered * resource.unit_price * SAVINGS_PLAN_RATE).quantize(COST_PLACES)
        if share < 1 and index == len(usage) - 1:
            effective = daily_commitment - used  # the plan is used exactly, not a cent more
        used += effective
        if covered:
            rows.append(_usage_row(resource, month_start, day, covered, effective))
        if quantity - covered:
            rows.append(_usage_row(resource, month_start, day, quantity - covered))
    if daily_commitment > used:
        rows.append(_unused_commitment_row(month_start, day, daily_commitment - used))
    return rows


SAVINGS_PLAN_COLUMNS = {
    "CommitmentDiscountCategory": "Spend", "CommitmentDiscountId": SAVINGS_PLAN_ID,
    "CommitmentDiscountName": "compute-savings-plan-1yr",
    "CommitmentDiscountType": "Savings Plan",  # as AWS's FOCUS export writes it
}


def _monthly_fee(month_start: date, service: str, amount: Decimal, commitment: bool) -> dict:
    """A recurring charge dated the 1st for the whole month. A commitment's fee is billed but
    has no EffectiveCost (that lives on the usage it covers); a support fee has both."""
    row = _base_row(PAYER, month_start, month_start, _next_month(month_start))
    row |= _costs(amount, Decimal(0) if commitment else amount, amount)
    row |= {"ChargeCategory": "Purchase", "ChargeFrequency": "Recurring",
            "ChargeDescription": service, "PricingCategory": "Standard",
            "ServiceCategory": "Compute" if commitment else "Other", "ServiceName": service}
    if commitment:
        row |= SAVINGS_PLAN_COLUMNS
        row["ChargeDescription"] = "1 year No Upfront Compute Savings Plan recurring fee"
        row["ServiceName"] = SAVINGS_PLAN_SERVICE
        row["x_UsageType"] = SAVINGS_PLAN_USAGE_TYPE
    return row


def _credit(month_start: date, day: int, account_key: str, service_key: str, amount: str,
            description: str) -> dict[str, str]:
    charge_day = month_start.replace(day=day)
    row = _base_row(ACCOUNTS[account_key], month_start, charge_day, charge_day + timedelta(days=1))
    row |= _costs(Decimal(amount), Decimal(amount), Decimal(0))
    return row | {"ChargeCategory": "Credit", "ChargeFrequency": "One-Time",
                  "ChargeDescription": description,
                  "ServiceCategory": SERVICES[service_key].category,
                  "ServiceName": SERVICES[service_key].name}
# fmt: on


def business_support_fee(aws_spend: Decimal) -> Decimal:
    """AWS Business support: 10% of the first $10k, 7% up to $80k, 5% up to $250k, 3% above."""
    tiers = ((10_000, "0.10"), (80_000, "0.07"), (250_000, "0.05"), (None, "0.03"))
    fee, floor = Decimal(0), Decimal(0)
    for ceiling, rate in tiers:
        top = aws_spend if ceiling is None else min(aws_spend, Decimal(ceiling))
        fee += max(top - floor, Decimal(0)) * Decimal(rate)
        floor = Decimal(ceiling or 0)
    return max(fee, Decimal(100)).quantize(Decimal("0.01"))


def _trend(rng: random.Random, day: date, start: date, growth: float, weekend: float) -> float:
    """Compound monthly growth x the weekend dip x a few % of day-to-day noise."""
    months = (day - start).days / DAYS_PER_MONTH
    seasonal = weekend if day.weekday() >= 5 else 1.0
    return (1 + growth) ** months * seasonal * max(rng.gauss(1.0, 0.04), 0.5)


def _write_csv(path: Path, header: tuple[str, ...], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def generate_demo_files(out_dir: Path, end_date: date, seed: int = 7) -> DemoFiles:
    """13 months of daily data ending at end_date inclusive (callers pass yesterday), written
    under out_dir: FOCUS files in data/, business metrics in metrics/, and costbot.yml."""
    out_dir = Path(out_dir)
    focus_dir = out_dir / FOCUS_DIR_NAME
    metrics_dir = out_dir / METRICS_DIR_NAME
    for folder in (focus_dir, metrics_dir):
        folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    resources = _build_resources(rng)
    anomalies = demo_anomalies(end_date)
    start = first_day(end_date)
    focus_files: list[Path] = []
    # The plan's hourly commitment, in the dollars (at its rate) it may cover an hour.
    hourly_commitment = (
        sum((Decimal(str(r.daily_cost)) for r in resources if r.covered), Decimal(0))
        * SAVINGS_PLAN_RATE
        * SAVINGS_PLAN_SIZING
        / 24
    ).quantize(Decimal("0.001"))
    month_start = start
    while month_start <= end_date:
        month_end = min(_next_month(month_start) - timedelta(days=1), end_date)
        rows: dict[str, list[dict[str, str]]] = defaultdict(list)
        aws_spend = Decimal(0)
        for offset in range(month_end.day):
            day = month_start + timedelta(days=offset)
            eligible: list[tuple[Resource, Decimal]] = []
            for resource in resources:
                cost = resource.daily_cost * _trend(
                    rng, day, start, resource.growth, resource.service.weekend
                )
                for anomaly in anomalies:
                    if anomaly.applies(resource.team, resource.service.name, day):
                        cost *= anomaly.factor
                quantity = _quantity(resource, cost)
                if resource.covered:
                    eligible.append((resource, quantity))
                    continue
                rows[resource.account.provider].append(
                    _usage_row(resource, month_start, day, quantity)
                )
            rows["aws"] += _savings_plan_day(eligible, hourly_commitment * 24, month_start, day)
        aws_spend = sum((Decimal(row["EffectiveCost"]) for row in rows["aws"]), Decimal(0))
        # The support fee is known once the month's usage is; a partial month is extrapolated.
        # The plan's fee is its commitment for every hour of the month, used or not.
        days_in_month = calendar.monthrange(month_start.year, month_start.month)[1]
        support = business_support_fee(aws_spend * Decimal(days_in_month) / month_end.day)
        plan_fee = hourly_commitment * 24 * days_in_month
        rows["aws"][:0] = [
            _monthly_fee(month_start, SAVINGS_PLAN_SERVICE, plan_fee, True),
            _monthly_fee(month_start, "AWS Support (Business)", support, False),
        ]
        month_index = (month_start.year - start.year) * 12 + month_start.month - start.month
        for months_in, day_of_month, account_key, *credit in CREDITS:
            if months_in == month_index and month_start.replace(day=day_of_month) <= end_date:
                row = _credit(month_start, day_of_month, account_key, *credit)
                rows[ACCOUNTS[account_key].provider].append(row)
        for provider in PROVIDERS:  # the key names the file: aws-2026-10.csv
            path = focus_dir / f"{provider}-{month_start:%Y-%m}.csv"
            header = AWS_COLUMNS if provider == "aws" else FOCUS_COLUMNS
            table = [[row.get(column, "") for column in header] for row in rows[provider]]
            _write_csv(path, header, table)
            focus_files.append(path)
        month_start = _next_month(month_start)

    metrics_file = metrics_dir / METRICS_FILE_NAME
    # The header of `costbot ingest metrics`; an empty scope is the whole organisation.
    _write_csv(metrics_file, ("date", "metric", "value", "scope"), _metrics(rng, start, end_date))
    config_file = out_dir / CONFIG_FILE_NAME
    shutil.copyfile(CONFIG_TEMPLATE, config_file)
    return DemoFiles(focus_files, metrics_file, config_file)


def _metrics(rng: random.Random, start: date, end_date: date) -> list[list[str]]:
    """Daily business volumes that grow with the teams serving them (a little slower than
    their cost, as unit costs creep up) and dip on weekends like the compute behind them."""
    rows: list[list[str]] = []
    for offset in range((end_date - start).days + 1):
        day = start + timedelta(days=offset)
        requests = {
            team: round(base * _trend(rng, day, start, TEAMS[team].growth - 0.005, 0.78))
            for team, base in API_REQUESTS.items()
        }
        months = offset / DAYS_PER_MONTH
        users = {  # a rolling 30-day count: smooth, no weekly pattern
            product: round(base * (1 + growth) ** months * rng.gauss(1.0, 0.003))
            for product, (base, growth) in ACTIVE_USERS.items()
        }
        users_all = round(sum(users.values()) * 0.83)  # people use more than one product
        orders = round(ORDERS_PER_DAY * _trend(rng, day, start, 0.025, 0.9))
        values = [("api_requests", ORGANISATION, sum(requests.values()))]
        values += [("api_requests", team, count) for team, count in requests.items()]
        values += [("monthly_active_users", ORGANISATION, users_all)]
        values += [("monthly_active_users", product, count) for product, count in users.items()]
        values += [("orders", ORGANISATION, orders)]
        rows += [[day.isoformat(), metric, str(value), scope] for metric, scope, value in values]
    return rows


def write_demo_inventory(db: sqlite_utils.Database, config: Config, seen_at: str) -> int:
    """A resource inventory for the demo's AWS EC2 instances and RDS databases, as
    `costbot sync aws` would find them: each resource billed in the latest month loaded,
    with the tags its bill carries (the demo has no AWS account to read). For `/untagged`'s
    Claim buttons and the tag ladder in `costbot demo`. The resources written."""
    latest = db.execute("SELECT max(month) FROM resource_cost").fetchone()[0]
    if latest is None:
        return 0
    rows = db.execute(
        "SELECT resource_id, account_id, region, resource_name, max(tags) FROM resource_cost"
        " WHERE month = ? AND (resource_id LIKE 'arn:aws:ec2:%:instance/%'"
        " OR resource_id LIKE 'arn:aws:rds:%:db:%')"
        " GROUP BY resource_id, account_id, region, resource_name ORDER BY resource_id",
        [latest],
    ).fetchall()
    by_place: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for arn, account, region, name, tags_text in rows:
        tags = json.loads(tags_text) if tags_text else {}
        kind = resource_type_of(arn)
        by_place[(account, region)].append(
            {
                "arn": arn,
                "resource_id": resource_id_of(arn),
                "resource_type": kind,
                "account_id": account,
                "region": region,
                "name": name,
                "state": "running" if kind == "ec2:instance" else "available",
                "launched_at": f"{latest}-01T00:00:00+00:00",
                "tags": tags,
                "team": team_of(tags, config),
                "idle": 0,
                "read_by": kind.split(":")[0],
            }
        )
    written = 0
    for (account, region), resources in sorted(by_place.items()):
        reads = {r["read_by"] for r in resources}
        snapshot = InventorySnapshot(account, region, seen_at, reads, resources)
        written += write_inventory_snapshot(db, snapshot)
    return written
