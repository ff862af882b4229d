data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition = data.aws_partition.current.partition
  # The region's name, on AWS provider 5.x and 6.x alike without a deprecation warning: 6.x
  # deprecates `name` (and `id`) for `region`, which 5.x lacks; `endpoint`, the region's EC2
  # endpoint ("ec2.<region>.<DNS suffix>", from the provider's partition data), exists in both.
  region     = split(".", data.aws_region.current.endpoint)[1]
  account_id = data.aws_caller_identity.current.account_id

  # Names. `name` is at most 40 characters, so every derived name fits its service's limit without
  # truncation (longest: "<name>-cb-rejitter", 52 <= 64 for functions and roles; state machine
  # "<name>-circuit-breaker", 56 <= 80): distinct circuits never collide under for_each.
  names = {
    state_machine  = "${var.name}-circuit-breaker"
    sfn_role       = coalesce(var.role_names.state_machine, "${var.role_name_prefix}${var.name}-cb-sfn")
    cleanup_role   = coalesce(var.role_names.cleanup, "${var.role_name_prefix}${var.name}-cb-cleanup")
    lease_table    = "${var.name}-cb-lease"
    delivery_dlq   = "${var.name}-cb-delivery-dlq"
    delivery_alarm = "${var.name}-cb-delivery-failed"
    # The observability module's alarms: <prefix>-execution-failed, -open-too-long, -trigger-failed.
    breaker_alarm_prefix = "${var.name}-cb"
    probe                = "${var.name}-cb-probe"
    rejitter             = "${var.name}-cb-rejitter"
    events_role          = coalesce(var.role_names.events, "${var.role_name_prefix}${var.name}-cb-events")
    probe_role           = coalesce(var.role_names.probe, "${var.role_name_prefix}${var.name}-cb-probe")
    rejitter_role        = coalesce(var.role_names.rejitter, "${var.role_name_prefix}${var.name}-cb-rejitter")
    rule                 = "${var.name}-cb-alarm"
    status_rule          = "${var.name}-cb-status"
    alarm                = "${var.name}-cb-error-rate"
    topic                = "${var.name}-circuit-breaker"
  }

  # Operator control parameters (modules/state-machine/control.tf).
  parameter_path = "/sqs-circuit-breaker/${var.name}"

  # The protected function, given by name or by (qualified) ARN.
  function_is_arn      = startswith(var.function_name, "arn:")
  target_function_name = local.function_is_arn ? split(":", var.function_name)[6] : var.function_name
  target_function_arn = (
    local.function_is_arn
    ? join(":", slice(split(":", var.function_name), 0, 7))
    : "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${var.function_name}"
  )

  # The probe's time after the invoke (hand the message back, report): AFTER_INVOKE_RESERVE_S in
  # lambda_src/probe/invoke.py; with transition events also their time, EVENTS_RESERVE_S in
  # lambda_src/probe/transitions.py (the invoke's read timeout leaves both out).
  probe_reserve_seconds = 10 + (var.transition_event_bus == null ? 0 : 4)

  probe_function_arn = "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${local.names.probe}"

  queue_name    = split(":", var.queue_arn)[5]
  queue_is_fifo = endswith(local.queue_name, ".fifo")

  create_alarm = var.existing_alarm == null
  alarm_name   = local.create_alarm ? local.names.alarm : var.existing_alarm.name
  # Computed from the name so that it is known at plan time (IAM policy, event pattern).
  alarm_arn = local.create_alarm ? "arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${local.names.alarm}" : var.existing_alarm.arn

  # The alarm's window sizes the watch after a close (see alarm_watch_seconds).
  alarm_period             = local.create_alarm ? var.alarm_period_seconds : var.existing_alarm.period_seconds
  alarm_evaluation_periods = local.create_alarm ? var.alarm_evaluation_periods : var.existing_alarm.evaluation_periods
  watch_seconds            = coalesce(var.alarm_watch_seconds, (local.alarm_evaluation_periods + 1) * local.alarm_period + 60)

  # Notifications are on by default: a topic is created unless create_sns_topic = false (then
  # sns_topic_arn, if set, is used). create_topic only reads a boolean input, so counts stay known
  # at plan time even when sns_topic_arn comes from a resource of the same configuration. A
  # created topic's ARN is computed from its name (known at plan time).
  create_topic = var.create_sns_topic
  # Transition events: the bus's ARN (a name is a bus of this account and region).
  transition_event_bus_arn = var.transition_event_bus == null ? null : (
    startswith(var.transition_event_bus, "arn:") ? var.transition_event_bus
    : "arn:${local.partition}:events:${local.region}:${local.account_id}:event-bus/${var.transition_event_bus}"
  )

  notifications_enabled = var.create_sns_topic || var.sns_topic_arn != null
  sns_topic_arn         = local.create_topic ? "arn:${local.partition}:sns:${local.region}:${local.account_id}:${local.names.topic}" : var.sns_topic_arn

  # The breaker's own alarms that notify the topic (modules/trigger: delivery failed;
  # modules/observability: <name>-cb-<kind>), named in the created topic's policy.
  breaker_alarm_names = concat(
    [local.names.delivery_alarm],
    [for kind in ["execution-failed", "open-too-long", "trigger-failed"] : "${local.names.breaker_alarm_prefix}-${kind}"],
  )
  breaker_alarm_arns = [for n in local.breaker_alarm_names : "arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${n}"]

  # The execution-status rule (modules/trigger), named in the created topic's policy.
  status_rule_arn = "arn:${local.partition}:events:${local.region}:${local.account_id}:rule/${local.names.status_rule}"

  queue_kms_statements = var.queue_kms_key_arn == null ? [] : [{
    sid        = "UseQueueKey"
    actions    = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources  = [var.queue_kms_key_arn]
    conditions = []
  }]
}
