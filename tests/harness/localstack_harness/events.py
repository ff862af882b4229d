"""EventBridge target fidelity for community LocalStack (loaded as an `on_infra_start` hook).

On AWS a target that cannot be invoked (StartExecution refused, topic missing...) is retried
according to its RetryPolicy, then the event goes to the target's dead-letter queue
(DeadLetterConfig) with the attributes RULE_ARN, TARGET_ARN, ERROR_CODE, ERROR_MESSAGE,
EXHAUSTED_RETRY_CONDITION and RETRY_ATTEMPTS, and the rule's AWS/Events FailedInvocations metric
counts it. LocalStack logs the failure and drops the event, and publishes no metric.
Here a failing target is retried (at most MAX_RETRIES times, a second apart: the emulator's
time scale, not AWS's up to 185 over 24 hours) and then dead-lettered as on AWS.

A disabled rule (DisableRule) matches no event on AWS; LocalStack delivered events to its targets
all the same. Here a disabled rule is skipped (`make bench` disables the breaker's alarm rule to
play the same outage without the breaker).
"""

from __future__ import annotations

import json
import logging
import time

from localstack.runtime import hooks

from localstack_harness.events_logic import dead_letter_attributes, retry_attempts

LOG = logging.getLogger("localstack_harness.events")
MAX_RETRIES = 2


def _dead_letter(sender, event, error: Exception, attempts: int) -> None:
    from localstack.aws.connect import connect_to
    from localstack.utils.aws.arns import sqs_queue_url_for_arn

    arn = (sender.target.get("DeadLetterConfig") or {}).get("Arn")
    if not arn:
        return
    parts = arn.split(":")
    # EventBridge sends to the dead-letter queue as its service principal, for this rule: the
    # queue's policy must allow it (the IAM enforcement, iam.py, checks it)
    sqs = connect_to(region_name=parts[3], aws_access_key_id=parts[4]).sqs.request_metadata(
        service_principal="events", source_arn=sender.rule_arn
    )
    sqs.send_message(
        QueueUrl=sqs_queue_url_for_arn(arn),
        MessageBody=json.dumps(event, default=str),
        MessageAttributes=dead_letter_attributes(
            sender.rule_arn, sender.target["Arn"], error, attempts
        ),
    )
    LOG.info("event for target %s dead-lettered to %s: %s", sender.target["Id"], arn, error)


def _count_failed_invocation(sender) -> None:
    """AWS/Events FailedInvocations (dimension RuleName): one per invocation failed for good."""
    from localstack.aws.connect import connect_to

    parts = sender.rule_arn.split(":")
    rule_name = parts[5].split("/")[-1]
    cloudwatch = connect_to(region_name=parts[3], aws_access_key_id=parts[4]).cloudwatch
    cloudwatch.put_metric_data(
        Namespace="AWS/Events",
        MetricData=[
            {
                "MetricName": "FailedInvocations",
                "Dimensions": [{"Name": "RuleName", "Value": rule_name}],
                "Value": 1,
                "Unit": "Count",
            }
        ],
    )


def _install_retries_and_dead_letters() -> None:
    from localstack.services.events.target import TargetSender

    original = TargetSender.process_event
    if getattr(original, "_sqscb_patched", False):
        return

    def process_event(self, event, trace_header):
        attempts = retry_attempts(self.target.get("RetryPolicy"), MAX_RETRIES)
        for attempt in range(attempts + 1):
            try:
                return original(self, event, trace_header)
            except Exception as error:
                if attempt == attempts:
                    _dead_letter(self, event, error, attempt)
                    try:
                        _count_failed_invocation(self)
                    except Exception:  # the metric must not hide the delivery failure
                        LOG.exception("could not publish FailedInvocations")
                    raise
                time.sleep(1.0)
        return None

    process_event._sqscb_patched = True
    TargetSender.process_event = process_event


def _install_disabled_rules_match_nothing() -> None:
    from localstack.aws.api.events import RuleState
    from localstack.services.events.provider import EventsProvider

    original = EventsProvider._process_rules
    if getattr(original, "_sqscb_patched", False):
        return

    def process_rules(self, rule, *args, **kwargs):
        if rule.state == RuleState.DISABLED:
            return None
        return original(self, rule, *args, **kwargs)

    process_rules._sqscb_patched = True
    EventsProvider._process_rules = process_rules


@hooks.on_infra_start()
def install_events_fidelity() -> None:
    _install_retries_and_dead_letters()
    _install_disabled_rules_match_nothing()
    LOG.info(
        "eventbridge fidelity installed: target retries, dead-letter queues, FailedInvocations,"
        " disabled rules match nothing"
    )
