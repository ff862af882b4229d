"""Pure logic of the harness's request recorder and of its concurrent SQS pollers."""

from __future__ import annotations

import json

from localstack_harness.esm_logic import sqs_pollers
from localstack_harness.recorder_logic import access_key, payload_records

SIGV4 = (
    "AWS4-HMAC-SHA256 Credential=ASIAQAAAAAAAKEY12345/20261127/us-east-1/sqs/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=abc"
)


def test_the_access_key_is_read_from_a_sigv4_authorization_header():
    assert access_key(SIGV4) == "ASIAQAAAAAAAKEY12345"
    assert access_key(None) is None
    assert access_key("Bearer token") is None


def test_an_event_source_mappings_payload_counts_its_records():
    assert payload_records(json.dumps({"Records": [{}, {}, {}]}).encode()) == 3
    assert payload_records(b'{"Records": []}') == 0


def test_other_payloads_count_no_records():
    assert payload_records(None) is None
    assert payload_records(b'{"queueUrl": "x"}') is None
    assert payload_records(b"[1, 2]") is None
    assert payload_records(b"not json") is None


def test_pollers_are_capped_by_the_mappings_maximum_concurrency():
    assert sqs_pollers(5, None) == 5
    assert sqs_pollers(5, 2) == 2
    assert sqs_pollers(5, 1000) == 5
    assert sqs_pollers(1, 2) == 1  # LocalStack's single poller, the default
    assert sqs_pollers(0, None) == 1
