"""Unit-test setup: lambda_src/<fn> importable as the Lambda runtime sees it, hermetic AWS.

In the deployment zip each handler module sits at the root next to the ``common`` package, so
the tests put lambda_src/ (for ``common``) and lambda_src/<fn>/ (for ``probe``, ``rejitter``) on
sys.path, the same import paths the runtime has.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAMBDA_SRC = ROOT / "lambda_src"
for _path in (LAMBDA_SRC, LAMBDA_SRC / "probe", LAMBDA_SRC / "rejitter"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

# Fake credentials and a fixed region, set before any boto3 client exists: nothing can reach
# a real account even if the developer's shell has credentials or a profile configured.
for _name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(_name, None)
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
)

REGION = "us-east-1"
ACCOUNT = "123456789012"


@pytest.fixture
def aws() -> Iterator[None]:
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture
def sqs(aws: None) -> Any:
    import boto3

    return boto3.client("sqs", region_name=REGION)


@pytest.fixture
def queue(sqs: Any) -> dict[str, str]:
    url = sqs.create_queue(QueueName="protected")["QueueUrl"]
    return {"url": url, "arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:protected"}


@pytest.fixture
def fifo_queue(sqs: Any) -> dict[str, str]:
    url = sqs.create_queue(
        QueueName="protected.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    return {"url": url, "arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:protected.fifo"}
