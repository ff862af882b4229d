"""scripts/iam_report.py: which of a role's grants the tests used, and which they never did."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def report():
    spec = importlib.util.spec_from_file_location("iam_report", ROOT / "scripts" / "iam_report.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["iam_report"] = module
    spec.loader.exec_module(module)
    return module


QUEUE = "arn:aws:sqs:us-east-1:000000000000:orders"
DLQ = "arn:aws:sqs:us-east-1:000000000000:orders-dlq"
DECISIONS = {
    "roles": {
        "orders-cb-rejitter": {
            "identity": [
                {
                    "Statement": [
                        {
                            "Sid": "Consume",
                            "Effect": "Allow",
                            "Action": ["sqs:ReceiveMessage", "sqs:PurgeQueue"],
                            "Resource": QUEUE,
                        },
                        {
                            "Sid": "Dlq",
                            "Effect": "Allow",
                            "Action": "sqs:SendMessage",
                            "Resource": [QUEUE, DLQ],
                        },
                    ]
                }
            ]
        },
        "someone-else": {"identity": []},
    },
    "usage": [
        {
            "principal": "arn:aws:sts::000000000000:assumed-role/orders-cb-rejitter/s",
            "action": "sqs:ReceiveMessage",
            "resource": QUEUE,
            "count": 3,
        },
        {
            "principal": "arn:aws:sts::000000000000:assumed-role/orders-cb-rejitter/s",
            "action": "sqs:SendMessage",
            "resource": QUEUE,
            "count": 1,
        },
    ],
}


def test_grants_are_matched_with_the_calls_the_role_made(report):
    analysis = report.analyse(DECISIONS)
    assert set(analysis) == {"rejitter"}  # only the module's roles, by kind
    grants = {g["sid"]: g for g in analysis["rejitter"]["grants"]}
    assert grants["Consume"]["used_actions"] == ["sqs:ReceiveMessage"]
    assert grants["Consume"]["unused_actions"] == ["sqs:PurgeQueue"]
    assert grants["Dlq"]["unused_actions"] == []
    assert grants["Dlq"]["unused_resources"] == [DLQ]  # sent to the queue, never to the DLQ


def test_the_summary_and_the_report_name_what_no_test_used(report):
    analysis = report.analyse(DECISIONS)
    assert report.summary(analysis) == {
        "rejitter": [
            {"sid": "Consume", "used": ["sqs:ReceiveMessage"], "unused": ["sqs:PurgeQueue"]},
            {"sid": "Dlq", "used": ["sqs:SendMessage"], "unused": []},
        ]
    }
    text = report.markdown(analysis, [])
    assert "`sqs:PurgeQueue`" in text and f"resource `{DLQ}`" in text
