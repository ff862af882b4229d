# EventBridge rule on the default bus: the alarm entering ALARM starts the state machine.
resource "aws_cloudwatch_event_rule" "this" {
  name        = var.rule_name
  description = "Circuit breaker ${var.circuit_name}: start the state machine when the alarm enters ALARM."
  state       = "ENABLED"

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
  }
}

# The rule may start this one state machine and nothing else.
data "aws_iam_policy_document" "this" {
  statement {
    sid       = "StartThisStateMachine"
    effect    = "Allow"
    actions   = ["states:StartExecution"]
    resources = [var.state_machine_arn]
  }
}

resource "aws_iam_role" "this" {
  name               = var.role_name
  description        = "EventBridge -> Step Functions for circuit breaker ${var.circuit_name}."
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
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
  status_rule_enabled = var.status_notifications_enabled
}

resource "aws_cloudwatch_event_rule" "status" {
  count = local.status_rule_enabled ? 1 : 0

  name        = var.status_rule_name
  description = "Circuit breaker ${var.circuit_name}: notify when an execution of the state machine ends ABORTED, TIMED_OUT or FAILED."
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
      condition     = var.sns_topic_arn != null && var.watched_state_machine_arn != null && var.status_rule_name != null && var.mapping_uuid != null
      error_message = "The execution-status rule needs sns_topic_arn, watched_state_machine_arn, status_rule_name and mapping_uuid."
    }
  }
}

locals {
  # A JSON string template (SNS receives the plain text), written by hand: jsonencode() would escape < and > as \u003c and
  # \u003e, and EventBridge would then not see the <execution> and <status> placeholders. The
  # circuit name and the mapping UUID are validated to [A-Za-z0-9_-], so nothing needs escaping.
  status_input_template = join("", [
    "\"Circuit ${var.circuit_name}: execution <execution> ended <status>; the event source mapping ",
    "${coalesce(var.mapping_uuid, "-")} may still be DISABLED: check it and re-enable it by hand if so.\"",
  ])
}

resource "aws_cloudwatch_event_target" "status" {
  count = local.status_rule_enabled ? 1 : 0

  rule      = aws_cloudwatch_event_rule.status[0].name
  target_id = "notify"
  arn       = var.sns_topic_arn

  input_transformer {
    input_paths = {
      execution = "$.detail.executionArn"
      status    = "$.detail.status"
    }
    input_template = local.status_input_template
  }
}
