"""Names users type, resolved to what the store holds: services (by exact name, a common
short name such as `ec2` or `gcs`, or a unique part of the name) and accounts (billing
accounts and sub-accounts, by id or name). Plain values out; an ambiguous name returns its
candidates so that the answer can ask which one was meant, never a silent first pick."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import sqlite_utils

from bot.store import queries
from bot.store.queries import Scope

# Short names people type, to the ServiceName values providers write in FOCUS exports (and
# Cost Explorer's SERVICE dimension). Several names per entry where a provider renamed a
# service or spells it differently in different exports.
SERVICE_ALIASES: dict[str, tuple[str, ...]] = {
    # AWS
    "ec2": ("Amazon Elastic Compute Cloud", "Amazon Elastic Compute Cloud - Compute"),
    "ec2 other": ("EC2 - Other",),
    "ebs": ("Amazon Elastic Block Store",),
    "rds": ("Amazon Relational Database Service",),
    "s3": ("Amazon Simple Storage Service",),
    "lambda": ("AWS Lambda",),
    "cloudfront": ("Amazon CloudFront",),
    "eks": (
        "Amazon Elastic Kubernetes Service",
        "Amazon Elastic Container Service for Kubernetes",
    ),
    "ecs": ("Amazon Elastic Container Service",),
    "ecr": ("Amazon EC2 Container Registry (ECR)", "Amazon Elastic Container Registry"),
    "dynamodb": ("Amazon DynamoDB",),
    "dynamo": ("Amazon DynamoDB",),
    "ddb": ("Amazon DynamoDB",),
    "elasticache": ("Amazon ElastiCache",),
    "sqs": ("Amazon Simple Queue Service",),
    "sns": ("Amazon Simple Notification Service",),
    "efs": ("Amazon Elastic File System",),
    "vpc": ("Amazon Virtual Private Cloud",),
    "elb": ("Elastic Load Balancing", "Amazon Elastic Load Balancing"),
    "alb": ("Elastic Load Balancing", "Amazon Elastic Load Balancing"),
    "nlb": ("Elastic Load Balancing", "Amazon Elastic Load Balancing"),
    "cloudwatch": ("AmazonCloudWatch", "Amazon CloudWatch"),
    "kms": ("AWS Key Management Service",),
    "waf": ("AWS WAF",),
    "route53": ("Amazon Route 53",),
    "route 53": ("Amazon Route 53",),
    "api gateway": ("Amazon API Gateway",),
    "apigateway": ("Amazon API Gateway",),
    "step functions": ("AWS Step Functions",),
    "sfn": ("AWS Step Functions",),
    "ssm": ("AWS Systems Manager",),
    "cloudtrail": ("AWS CloudTrail",),
    "security hub": ("AWS Security Hub",),
    "redshift": ("Amazon Redshift",),
    "opensearch": ("Amazon OpenSearch Service", "Amazon Elasticsearch Service"),
    "elasticsearch": ("Amazon OpenSearch Service", "Amazon Elasticsearch Service"),
    "sagemaker": ("Amazon SageMaker",),
    "cognito": ("Amazon Cognito",),
    "athena": ("Amazon Athena",),
    "glue": ("AWS Glue",),
    "kinesis": ("Amazon Kinesis", "Amazon Kinesis Data Streams"),
    "msk": ("Amazon Managed Streaming for Apache Kafka",),
    "rosa": ("Red Hat OpenShift Service on AWS",),
    "data transfer": ("AWS Data Transfer",),
    "support": ("AWS Support (Business)", "AWS Support (Enterprise)", "AWS Support (Developer)"),
    "savings plans": ("Savings Plans for AWS Compute usage",),
    # Azure
    "aks": ("Azure Kubernetes Service",),
    "vm": ("Virtual Machines",),
    "vms": ("Virtual Machines",),
    "azure vm": ("Virtual Machines",),
    "vmss": ("Virtual Machine Scale Sets",),
    "blob": ("Storage", "Storage Accounts"),
    "blob storage": ("Storage", "Storage Accounts"),
    "azure storage": ("Storage", "Storage Accounts"),
    "storage account": ("Storage", "Storage Accounts"),
    "azure sql": ("Azure SQL Database", "SQL Database"),
    "sql database": ("Azure SQL Database", "SQL Database"),
    "mysql": ("Azure DB for MySQL", "Azure Database for MySQL"),
    "postgres": ("Azure DB for PostgreSQL", "Azure Database for PostgreSQL"),
    "cosmos": ("Azure Cosmos DB",),
    "cosmosdb": ("Azure Cosmos DB",),
    "aml": ("Azure Machine Learning",),
    "azure ml": ("Azure Machine Learning",),
    "app service": ("Azure App Service",),
    # Google Cloud
    "gcs": ("Cloud Storage",),
    "google cloud storage": ("Cloud Storage",),
    "bigquery": ("BigQuery",),
    "bq": ("BigQuery",),
    "gce": ("Compute Engine",),
    "compute engine": ("Compute Engine",),
    "gke": ("Kubernetes Engine", "Google Kubernetes Engine"),
    "cloud sql": ("Cloud SQL",),
    "cloud run": ("Cloud Run",),
    "gcf": ("Cloud Functions",),
    "pubsub": ("Cloud Pub/Sub",),
    # Oracle Cloud (OCI writes service names in capitals with underscores)
    "oci compute": ("COMPUTE",),
    "oci block storage": ("BLOCK_STORAGE",),
    "oci object storage": ("OBJECT_STORAGE",),
    "oci network": ("NETWORK",),
    "oke": ("CONTAINER_ENGINE",),
}
# Words that name a kind of service on every cloud: ambiguous wherever more than one cloud
# (or more than one of the services) is in the store, and then the answer asks which.
GENERIC_SERVICE_NAMES: dict[str, tuple[str, ...]] = {
    "compute": ("Amazon Elastic Compute Cloud", "Compute Engine", "Virtual Machines", "COMPUTE"),
    "storage": (
        "Amazon Simple Storage Service",
        "Storage",
        "Storage Accounts",
        "Cloud Storage",
        "OBJECT_STORAGE",
    ),
    "object storage": (
        "Amazon Simple Storage Service",
        "Storage",
        "Storage Accounts",
        "Cloud Storage",
        "OBJECT_STORAGE",
    ),
    "sql": ("Azure SQL Database", "SQL Database", "Cloud SQL"),
    "kubernetes": (
        "Amazon Elastic Kubernetes Service",
        "Amazon Elastic Container Service for Kubernetes",
        "Azure Kubernetes Service",
        "Kubernetes Engine",
        "Google Kubernetes Engine",
        "CONTAINER_ENGINE",
    ),
    "functions": ("AWS Lambda", "Functions", "Azure Functions", "Cloud Functions"),
    "redis": ("Amazon ElastiCache", "Azure Cache for Redis", "Memorystore"),
}
# Where a short name's cost lives inside another service, say so instead of "unknown".
SERVICE_HINTS = {
    "ebs": "AWS bills EBS volumes under Amazon Elastic Compute Cloud (`/cost service ec2`).",
}

_SEPARATORS = re.compile(r"[\s_\-]+")


def normalise(text: str) -> str:
    """Lower case, with runs of spaces, `_` and `-` as one space: `BLOCK_STORAGE` and
    `block storage` are the same name to a user."""
    return _SEPARATORS.sub(" ", text).strip().lower()


_SPECIFIC = {normalise(short): names for short, names in SERVICE_ALIASES.items()}
_ALIASES = _SPECIFIC | {normalise(word): names for word, names in GENERIC_SERVICE_NAMES.items()}


@dataclass(frozen=True)
class ServiceMatch:
    """`service` when the name picks one; `candidates` when it could mean several;
    `meant` when it is a short name whose services hold no cost in the store."""

    service: str | None = None
    candidates: tuple[str, ...] = ()
    meant: tuple[str, ...] = ()
    hint: str | None = None

    @property
    def found(self) -> bool:
        return self.service is not None


def match_service(text: str, services: list[str]) -> ServiceMatch:
    """Resolve what a user typed among the services in the store. An exact name (any case)
    always wins; then a common short name; then the services whose name holds the typed
    words at a word start (`lambda` -> `AWS Lambda`); then any that contain them. Each step
    that finds one service answers; one that finds several asks."""
    wanted = normalise(text)
    if not wanted:
        return ServiceMatch()
    by_name: dict[str, list[str]] = {}
    for service in services:
        by_name.setdefault(normalise(service), []).append(service)
    exact = by_name.get(wanted, [])
    if exact:
        return _one_or_ask(exact)
    if wanted in _ALIASES:
        present = [s for name in _ALIASES[wanted] for s in by_name.get(normalise(name), [])]
        if present:
            return _one_or_ask(present)
        # A short name means specific services: never fall back to a lookalike (`ec2` is
        # not "Amazon EC2 Container Registry").
        return ServiceMatch(meant=_ALIASES[wanted], hint=SERVICE_HINTS.get(wanted))
    word_start = re.compile(r"(?:^|\s)" + re.escape(wanted))
    for matches in (
        [s for s in services if word_start.search(normalise(s))],
        [s for s in services if wanted in normalise(s)],
    ):
        if matches:
            return _one_or_ask(matches)
    return ServiceMatch()


def _one_or_ask(matches: list[str]) -> ServiceMatch:
    unique = tuple(dict.fromkeys(matches))
    return ServiceMatch(service=unique[0]) if len(unique) == 1 else ServiceMatch(candidates=unique)


def short_name(service: str) -> str | None:
    """The usual short name of a service, to suggest in a question."""
    wanted = normalise(service)
    # The table lists the usual name first (`dynamodb` before `ddb`).
    names = [a for a, targets in _SPECIFIC.items() if wanted in map(normalise, targets)]
    return names[0] if names else None


def resolve_service(db: sqlite_utils.Database, text: str) -> ServiceMatch:
    return match_service(text, queries.known_values(db, "service"))


@dataclass(frozen=True)
class Account:
    """A billing account (the bill payer: AWS payer, Azure billing account, GCP billing
    account, OCI tenancy) or a sub-account (AWS linked account, Azure subscription, GCP
    project, OCI compartment): different scopes even when they share an id."""

    provider: str
    account_id: str
    name: str | None  # None when the export gives no name other than the id
    kind: str  # "billing" | "sub"

    @property
    def scope(self) -> Scope:
        if self.kind == "billing":
            return Scope(billing_account=self.account_id)
        return Scope(account=self.account_id)

    @property
    def kind_label(self) -> str:
        return "billing account" if self.kind == "billing" else "account"

    @property
    def display(self) -> str:
        """`Acme Corp (111111111111)`, or the id alone when it has no other name."""
        if self.name and self.name != self.account_id:
            return f"{self.name} ({self.account_id})"
        return self.account_id


@dataclass(frozen=True)
class AccountMatch:
    account: Account | None = None
    candidates: tuple[Account, ...] = ()
    # The other scope with the same id (an AWS payer account is also a linked account with
    # its own usage), to say how to ask for it.
    also: Account | None = None


def known_accounts(db: sqlite_utils.Database) -> list[Account]:
    """Every billing account and sub-account with cost in the store, with its name."""
    names = {
        (provider, account_id, kind): name
        for provider, account_id, name, kind in db.execute(
            "SELECT provider, account_id, name, kind FROM accounts"
        )
    }
    billing = _billing_accounts(db)
    accounts = [
        Account(provider, account_id, names.get((provider, account_id, "billing")), "billing")
        for provider, account_id in billing
    ]
    for account_id in queries.known_values(db, "account"):
        row = db.execute(
            "SELECT provider FROM daily_cost WHERE account_id = ? LIMIT 1", [account_id]
        ).fetchone()
        provider = row[0] if row else ""
        # Ingest names a sub-account only where its id differs from its billing account's;
        # the billing account's name is not the sub-account's.
        name = names.get((provider, account_id, "sub"))
        accounts.append(Account(provider, account_id, name, "sub"))
    return accounts


def _billing_accounts(db: sqlite_utils.Database) -> list[tuple[str, str]]:
    """Distinct (provider, billing account) pairs, one index seek each rather than a scan of
    every row (the index on provider, billing_account_id, billing_period leads with them)."""
    found: list[tuple[str, str]] = []
    sql = (
        "SELECT provider, billing_account_id FROM daily_cost"
        " WHERE billing_account_id IS NOT NULL AND (provider, billing_account_id) > (?, ?)"
        " ORDER BY provider, billing_account_id LIMIT 1"
    )
    after = ("", "")
    while row := db.execute(sql, after).fetchone():
        found.append((row[0], row[1]))
        after = (row[0], row[1])
    return found


def account_labels(db: sqlite_utils.Database) -> dict[str, str]:
    """Sub-account id -> `name (id)`, for rankings by account (rows are sub-account ids)."""
    return {a.account_id: a.display for a in known_accounts(db) if a.kind == "sub"}


def match_account(text: str, accounts: list[Account], kind: str | None = None) -> AccountMatch:
    """Resolve an account id or name (any case). An id wins over a name; an id that is both
    a billing account and a sub-account picks the sub-account (what `/cost top accounts`
    ranks) and names the billing account in `also`; a name of several accounts asks which.
    `kind` ("billing" | "sub") restricts the search to one kind."""
    wanted = normalise(text)
    if not wanted:
        return AccountMatch()
    pool = [a for a in accounts if kind is None or a.kind == kind]
    by_id = [a for a in pool if normalise(a.account_id) == wanted]
    if not by_id:
        # Azure ids are paths: `/subscriptions/<guid>`; the GUID alone is what people copy.
        by_id = [a for a in pool if normalise(a.account_id.rsplit("/", 1)[-1]) == wanted]
    if by_id:
        subs = [a for a in by_id if a.kind == "sub"]
        chosen = subs if subs else by_id
        if len(chosen) > 1:
            return AccountMatch(candidates=tuple(chosen))
        others = [a for a in accounts if a.account_id == chosen[0].account_id and a != chosen[0]]
        return AccountMatch(account=chosen[0], also=others[0] if others else None)
    for matches in (
        [a for a in pool if a.name and normalise(a.name) == wanted],
        [a for a in pool if a.name and wanted in normalise(a.name)],
    ):
        if len(matches) == 1:
            return AccountMatch(account=matches[0])
        if matches:
            return AccountMatch(candidates=tuple(matches))
    return AccountMatch()


def resolve_account(db: sqlite_utils.Database, text: str, kind: str | None = None) -> AccountMatch:
    return match_account(text, known_accounts(db), kind)


def closest(name: str, candidates: list[str], limit: int = 3) -> list[str]:
    """The nearest spellings, for "did you mean ...?"."""
    lowered = {c.lower(): c for c in candidates}
    # Beyond any real name's length a comparison only costs time (difflib is quadratic).
    wanted = name.lower()[:100]
    matches = difflib.get_close_matches(wanted, list(lowered), n=limit, cutoff=0.5)
    if not matches:
        matches = [c for c in lowered if wanted in c or c in wanted][:limit]
    return [lowered[m] for m in matches]
