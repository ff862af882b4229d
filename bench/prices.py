"""AWS list prices (us-east-1, on-demand, no free tier) used by the cost tables."""

from __future__ import annotations

#: when the prices were read, and where
READ_ON = "2026-11-27"
SOURCE = (
    "Step Functions checked on aws.amazon.com/step-functions/pricing on that date; the others"
    " are the services' published us-east-1 list prices (Lambda, SQS, CloudWatch, SNS pricing"
    " pages), not re-checked here"
)

PRICES: dict[str, float] = {
    # Step Functions standard workflows: per state transition
    "sfn_transition": 0.025 / 1000,
    # Lambda x86: per request, per GB-second
    "lambda_request": 0.20 / 1_000_000,
    "lambda_gb_second": 0.0000166667,
    # SQS standard: per request (a batch of up to 10 messages is one request)
    "sqs_request": 0.40 / 1_000_000,
    # CloudWatch: API requests (PutMetricData, DescribeAlarms, SetAlarmState...) per request
    "cloudwatch_request": 0.01 / 1000,
    # CloudWatch monthly: a standard-resolution alarm, a high-resolution alarm, a custom metric
    "alarm_month": 0.10,
    "alarm_high_resolution_month": 0.30,
    "custom_metric_month": 0.30,
    # SNS: per publish (delivery to SQS is free)
    "sns_publish": 0.50 / 1_000_000,
}

#: control-plane calls that AWS does not bill per request
FREE = {
    "lambda": "GetEventSourceMapping/UpdateEventSourceMapping (control plane)",
    "stepfunctions": "ListExecutions/DescribeExecution/StartExecution (billed as transitions)",
    "events": "AWS service events on the default bus",
}
