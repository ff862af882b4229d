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
