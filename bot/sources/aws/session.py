"""AWS sessions and clients for every AWS source, and the one-line descriptions of AWS errors.

- Clients retry throttling and 5xx with botocore's adaptive mode (a client-side rate limiter
  on top of exponential backoff).
- Endpoints are botocore's business: `AWS_ENDPOINT_URL` and the service-specific variables
  (`AWS_ENDPOINT_URL_COST_EXPLORER`, `AWS_ENDPOINT_URL_EC2`, ...) and the `endpoint_url`
  settings of the shared config all work because nothing here reads them.
- Member accounts are read through a role assumed in each (`aws.assume_role` in the config).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)

# Cost Explorer is a global service answered in us-east-1 (also what its endpoint signs for).
COST_EXPLORER_REGION = "us-east-1"
# Attempts per call, the first included; adaptive mode also slows down after throttling.
MAX_ATTEMPTS = 8
ROLE_SESSION_NAME = "costbot"

ACCESS_DENIED_CODES = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedException",
    "AuthorizationError",
    "AuthorizationErrorException",
}
CREDENTIAL_CODES = {
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "IncompleteSignature",
}


class AwsProblem(Exception):
    """An AWS call failed in a way that stops the sync; the message is one line."""


def client_config() -> BotoConfig:
    return BotoConfig(
        retries={"mode": "adaptive", "max_attempts": MAX_ATTEMPTS},
        user_agent_extra="costbot",
    )


def base_session(region: str | None = None) -> boto3.session.Session:
    """The standard credential chain (environment, shared files, SSO, instance role). The
    region: `region`, else the profile's or AWS_DEFAULT_REGION (what boto3 reads), else
    AWS_REGION (what the other AWS SDKs and most deployments set, and boto3 ignores)."""
    session = boto3.session.Session(region_name=region) if region else boto3.session.Session()
    if session.region_name is None and os.environ.get("AWS_REGION"):
        session = boto3.session.Session(region_name=os.environ["AWS_REGION"])
    return session


def make_client(session: boto3.session.Session, service: str, region: str | None = None):
    """A client of `service` with Costbot's retry settings; `region` defaults to the
    session's, else us-east-1."""
    region = region or session.region_name or COST_EXPLORER_REGION
    return session.client(service, region_name=region, config=client_config())


def caller_account(session: boto3.session.Session) -> str:
    """The account the credentials belong to (STS GetCallerIdentity: free, needs no
    permission)."""
    try:
        return make_client(session, "sts").get_caller_identity()["Account"]
    except (ClientError, BotoCoreError) as error:
        raise AwsProblem(describe_aws_error(error, "sts:GetCallerIdentity")) from None


@dataclass(frozen=True)
class AccountSession:
    account_id: str
    session: boto3.session.Session


def member_session(
    session: boto3.session.Session, account_id: str, role_name: str | None, home_account: str
) -> AccountSession:
    """A session in a member account: the caller's own when it is the home account or no
    role is configured, else the role `role_name` assumed there."""
    if account_id == home_account or not role_name:
        return AccountSession(account_id, session)
    role_arn = f"arn:aws:iam::{account_id}:role/{role_name}"
    try:
        credentials = make_client(session, "sts").assume_role(
            RoleArn=role_arn, RoleSessionName=ROLE_SESSION_NAME
        )["Credentials"]
    except (ClientError, BotoCoreError) as error:
        raise AwsProblem(describe_aws_error(error, "sts:AssumeRole", account_id)) from None
    assumed = boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=session.region_name,
    )
    return AccountSession(account_id, assumed)


def error_code(error: BaseException) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return type(error).__name__


def is_access_denied(error: BaseException) -> bool:
    return isinstance(error, ClientError) and error_code(error) in ACCESS_DENIED_CODES


def is_credentials_problem(error: BaseException) -> bool:
    return isinstance(error, NoCredentialsError) or (
        isinstance(error, ClientError) and error_code(error) in CREDENTIAL_CODES
    )


def describe_aws_error(error: BaseException, action: str, account: str | None = None) -> str:
    """One line for an AWS failure, naming the action (`ec2:DescribeInstances`) and the
    account; never the request, the credentials or a traceback."""
    where = f" in account {account}" if account else ""
    if isinstance(error, NoCredentialsError):
        return (
            "no AWS credentials found (environment, ~/.aws, SSO or an instance role);"
            " see README 'Connect AWS'"
        )
    if isinstance(error, NoRegionError):
        return (
            "no AWS region configured: set AWS_REGION (or AWS_DEFAULT_REGION, or a profile's"
            " region) or aws.regions in costbot.yml"
        )
    if isinstance(error, EndpointConnectionError):
        return (
            f"{action}{where}: cannot reach the AWS endpoint ({error.kwargs.get('endpoint_url')})"
        )
    code = error_code(error)
    if code in ACCESS_DENIED_CODES:
        return f"access denied: {action}{where} (see the IAM policy in README 'Connect AWS')"
    if code in CREDENTIAL_CODES:
        return f"AWS credentials expired or invalid ({code}) calling {action}{where}: refresh them"
    if isinstance(error, ClientError):
        message = str(error.response.get("Error", {}).get("Message", "")).splitlines()
        detail = f": {message[0][:200]}" if message and message[0] else ""
        return f"{action}{where} failed: {code}{detail}"
    return f"{action}{where} failed: {type(error).__name__}"
