"""The example's protected function: processes SQS messages from its event source mapping.

- While the SHOULD_ERROR environment variable is "true" every invocation fails (the downstream
  service is "down"): the error rate rises and the circuit breaker opens.
- A message whose body starts with "poison" can never be processed: it is reported in
  `batchItemFailures` (partial batch response) while the rest of the batch succeeds.
- While REPORT_ALL_FAILED is "true" every record is reported in `batchItemFailures` and the
  function returns normally (an outage of a function with partial batch responses: Lambda counts
  no Errors; the mapping's FailedInvokeEventCount counts them, see examples/detection).
- DELAY_MS makes every invocation take that much longer (a slow downstream: slow calls).
- When PROCESSED_QUEUE_URL is set, every processed message is recorded there (body, attributes,
  time), so the demo and the end-to-end tests can count messages by id.
- When METRIC_NAMESPACE is set, every invocation publishes high-resolution (1 s) Invocations and
  Errors metrics there: a 10 s alarm on them (bring your own alarm) reacts in seconds, where
  AWS/Lambda metrics have 1-minute resolution.
"""

from __future__ import annotations

import json
import os
import time

import boto3

SQS = boto3.client("sqs")
CLOUDWATCH = boto3.client("cloudwatch")


def handler(event, context):
    failing = os.environ.get("SHOULD_ERROR", "false").lower() == "true"
    publish_metrics(context, errors=1 if failing else 0)
    if failing:
        raise RuntimeError("downstream service unavailable (SHOULD_ERROR=true)")
    delay_ms = int(os.environ.get("DELAY_MS") or 0)
    if delay_ms > 0:
        time.sleep(delay_ms / 1000)
    if os.environ.get("REPORT_ALL_FAILED", "false").lower() == "true":
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]}
    failures = []
    for record in event["Records"]:
        if record["body"].startswith("poison"):
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        record_processed(record)
    return {"batchItemFailures": failures}


def publish_metrics(context, errors: int) -> None:
    namespace = os.environ.get("METRIC_NAMESPACE")
    if not namespace:
        return
    dimensions = [{"Name": "FunctionName", "Value": context.function_name}]
    CLOUDWATCH.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": dimensions,
                "Value": value,
                "Unit": "Count",
                "StorageResolution": 1,
            }
            for name, value in (("Invocations", 1), ("Errors", errors))
        ],
    )


def record_processed(record: dict) -> None:
    url = os.environ.get("PROCESSED_QUEUE_URL")
    if not url:
        return
    SQS.send_message(
        QueueUrl=url,
        MessageBody=json.dumps(
            {
                "body": record["body"],
                "messageId": record["messageId"],
                "messageAttributes": record.get("messageAttributes", {}),
                "traceHeader": record.get("attributes", {}).get("AWSTraceHeader"),
                "processedAt": time.time(),
            }
        ),
    )
