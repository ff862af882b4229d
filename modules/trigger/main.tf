# EventBridge rule on the default bus: the alarm entering ALARM starts the state machine.
resource "aws_cloudwatch_event_rule" "this" {
  name        = var.rule_name
  description = "Circuit breaker ${var.circuit_name}: start the state machine when the alarm enters ALARM."
  state       = var.rule_enabled ? "ENABLED" : "DISABLED"

  event_pattern = jsonencode({
    source        = ["aws.cloudwatch"]
    "detail-type" = ["CloudWatch Alarm State Change"]
    resources     = [var.alarm_arn]
    detail = {
      state = {
        value = ["ALARM"]
      }
    }
  })

  tags = var.tags
}

resource "aws_cloudwatch_event_target" "this" {
  rule      = aws_cloudwatch_event_rule.this.name
  target_id = "circuit-breaker"
  arn       = var.state_machine_arn
  role_arn  = aws_iam_role.this.arn

  # StartExecution can fail (IAM propagation on the first apply, throttling): EventBridge retries,
  # then puts the event in the delivery DLQ, whose alarm notifies (an alarm event that started
  # nothing would otherwise be lost silently, and the circuit would never open).
  retry_policy {
    maximum_event_age_in_seconds = var.delivery_max_event_age_seconds
    maximum_retry_attempts       = var.delivery_max_retry_attempts
  }

  dead_letter_config {
    arn = aws_sqs_queue.delivery_dlq.arn
  }
}

# ---- Failed deliveries: a dead-letter queue and an alarm on it ---------------------------------
resource "aws_sqs_queue" "delivery_dlq" {
  name                      = var.delivery_dlq_name
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
  tags                      = var.tags
}

data "aws_iam_policy_document" "delivery_dlq" {
  statement {
    sid       = "EventBridgeDeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.delivery_dlq.arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = local.rule_arns
    }
  }
}

resource "aws_sqs_queue_policy" "delivery_dlq" {
  queue_url = aws_sqs_queue.delivery_dlq.id
  policy    = data.aws_iam_policy_document.delivery_dlq.json
}

resource "aws_cloudwatch_metric_alarm" "delivery_failed" {
  alarm_name          = var.delivery_alarm_name
  alarm_description   = "Circuit breaker ${var.circuit_name}: EventBridge could not deliver an event (alarm -> state machine, or execution status -> notification/cleanup) after its retries; it is in ${var.delivery_dlq_name}. The circuit may not have opened: check the alarm, the state machine and its role."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  dimensions = {
    QueueName = aws_sqs_queue.delivery_dlq.name
  }
  alarm_actions = var.sns_topic_arn == null ? [] : [var.sns_topic_arn]
  tags          = var.tags
}

data "aws_iam_policy_document" "assume" {
  statement {
    sid     = "EventBridgeAssume"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    # Confused-deputy guard: only this circuit's rules (alarm, execution status) in this account.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = local.rule_arns
    }
  }
}

# The rules may start this state machine (and the cleanup one) and nothing else.
data "aws_iam_policy_document" "this" {
  statement {
    sid       = "StartThisStateMachine"
    effect    = "Allow"
    actions   = ["states:StartExecution"]
    resources = compact([var.state_machine_arn, var.cleanup_state_machine_arn])
  }

  # With a customer-managed key the execution's input is encrypted with it when it starts.
  dynamic "statement" {
    for_each = var.state_machine_kms_key_arn == null ? [] : [var.state_machine_kms_key_arn]

    content {
      sid       = "EncryptExecutionInput"
      actions   = ["kms:GenerateDataKey"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:EncryptionContext:aws:states:stateMachineArn"
        values   = compact([var.state_machine_arn, var.cleanup_state_machine_arn])
      }
    }
  }
}

resource "aws_iam_role" "this" {
  name               = var.role_name
  description        = "EventBridge -> Step Functions for circuit breaker ${var.circuit_name}."
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags

  path                 = var.role_path
  permissions_boundary = var.role_permissions_boundary
}

resource "aws_iam_role_policy" "this" {
  name   = "start-state-machine"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

# ---- Execution status: what the state machine cannot catch itself -----------------------------
# StopExecution (ABORTED), the execution timing out (TIMED_OUT) and uncatchable errors such as
# States.Runtime (FAILED) end an execution without running its failure handler, maybe with the
# mapping still disabled. The defined Fail states (ClosedAfterFailure, OpenManualActionRequired,
# FailedBeforeOpen) end FAILED too, after their own notification.
locals {
  status_rule_enabled = var.status_notifications_enabled || var.cleanup_enabled
  # Known at plan time (built from the names): the DLQ policy names both rules.
  rule_arns = compact([
    "arn:${var.partition}:events:${var.region}:${var.account_id}:rule/${var.rule_name}",
    local.status_rule_enabled ? "arn:${var.partition}:events:${var.region}:${var.account_id}:rule/${var.status_rule_name}" : "",
  ])
}

resource "aws_cloudwatch_event_rule" "status" {
  count = local.status_rule_enabled ? 1 : 0

  name        = var.status_rule_name
  description = "Circuit breaker ${var.circuit_name}: when an execution of the state machine ends ABORTED, TIMED_OUT or FAILED, notify and turn the rejitter off."
  state       = "ENABLED"

  event_pattern = jsonencode({
    source        = ["aws.states"]
    "detail-type" = ["Step Functions Execution Status Change"]
    detail = {
      stateMachineArn = [var.watched_state_machine_arn]
      status          = ["ABORTED", "TIMED_OUT", "FAILED"]
    }
  })

  tags = var.tags

  lifecycle {
    precondition {
      condition     = (!var.status_notifications_enabled || var.sns_topic_arn != null) && (!var.cleanup_enabled || var.cleanup_state_machine_arn != null) && var.watched_state_machine_arn != null && var.status_rule_name != null && var.mapping_uuid != null
      error_message = "The execution-status rule needs watched_state_machine_arn, status_rule_name and mapping_uuid, plus sns_topic_arn (notifications) or cleanup_state_machine_arn (cleanup)."
    }
  }
}

locals {
  # A JSON string template (SNS receives the plain text), written by hand: jsonencode() would escape < and > as \u003c and
  # \u003e, and EventBridge would then not see the <execution> and <status> placeholders. The
  # circuit name and the mapping UUID are validated to [A-Za-z0-9_-], so nothing needs escaping.
  status_text = join("", [
    "Circuit ${var.circuit_name}: execution <execution> ended <status>; the event source mapping ",
    "${coalesce(var.mapping_uuid, "-")} may still be DISABLED: check it and re-enable it by hand if so.",
  ])
  # EventBridge input templates: a quoted string (text) or a JSON object whose <placeholders> sit
  # inside quoted strings (json).
  status_input_template = var.notification_format == "json" ? join("", [
    "{\"circuit\": \"${var.circuit_name}\", \"state\": \"UNKNOWN\", \"event\": \"EXECUTION <status>\", ",
    "\"message\": \"${local.status_text}\", \"mapping\": \"${coalesce(var.mapping_uuid, "-")}\", ",
    "\"execution\": \"<execution>\"}",
  ]) : "\"${local.status_text}\""
}

resource "aws_cloudwatch_event_target" "status" {
  count = var.status_notifications_enabled ? 1 : 0

  rule      = aws_cloudwatch_event_rule.status[0].name
  target_id = "notify"
  arn       = var.sns_topic_arn

  retry_policy {
    maximum_event_age_in_seconds = var.delivery_max_event_age_seconds
    maximum_retry_attempts       = var.delivery_max_retry_attempts
  }

  dead_letter_config {
    arn = aws_sqs_queue.delivery_dlq.arn
  }

  input_transformer {
    input_paths = {
      execution = "$.detail.executionArn"
      status    = "$.detail.status"
    }
    input_template = local.status_input_template
  }
}

# An execution that ends in any way other than through its own close path (stopped, timed out,
# failed) must not leave the rejitter re-sending the queue: the cleanup state machine turns the
# rejitter's mapping off.
resource "aws_cloudwatch_event_target" "cleanup" {
  count = var.cleanup_enabled ? 1 : 0

  rule      = aws_cloudwatch_event_rule.status[0].name
  target_id = "cleanup"
  arn       = var.cleanup_state_machine_arn
  role_arn  = aws_iam_role.this.arn

  retry_policy {
    maximum_event_age_in_seconds = var.delivery_max_event_age_seconds
    maximum_retry_attempts       = var.delivery_max_retry_attempts
  }

  dead_letter_config {
    arn = aws_sqs_queue.delivery_dlq.arn
  }
}
