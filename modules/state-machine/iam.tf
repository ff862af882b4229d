# The state machine's role: exactly the calls its definition makes, on the exact resources.
# Trust policies of both state machines' roles (this one and the cleanup's, cleanup.tf): only that
# state machine (or a version or alias of it) of this account may assume the role (confused-deputy
# guard).
data "aws_iam_policy_document" "assume" {
  for_each = merge(
    { main = local.state_machine_arn },
    local.cleanup_enabled ? { cleanup = local.cleanup_arn } : {},
  )

  statement {
    sid     = "StepFunctionsAssume"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [each.value, "${each.value}:*"]
    }
  }
}

locals {
  mapping_arns = concat(
    ["arn:${var.partition}:lambda:${var.region}:${var.account_id}:event-source-mapping:${var.mapping_uuid}"],
    local.rejitter_enabled ? ["arn:${var.partition}:lambda:${var.region}:${var.account_id}:event-source-mapping:${var.rejitter_mapping_uuid}"] : [],
  )

  statements = concat(
    [
      {
        # The episode lease (lease.tf): the recovery's gates (conditional writes). GetItem: only
        # for timed holds that started before the close took the lease from the hold itself
        # (their definition reads the lease at the hold's end); DeleteItem: only for executions
        # that started before the look released the lease (their definition releases it in a
        # state of its own). Remove both in the release after next.
        sid        = "EpisodeLease"
        actions    = ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
        resources  = [local.lease_table_arn]
        conditions = []
      },
      {
        # History hand-over: an episode continues in a successor execution (a fresh history);
        # used by make test-history (build/iam/decisions-history.json), not by make test.
        sid        = "HandOverToSuccessor"
        actions    = ["states:StartExecution"]
        resources  = [local.state_machine_arn]
        conditions = []
      },
      {
        # Only for executions that started before the probe function took over these reads
        # (their definition makes them): DescribeExecution, is the lease holder still running
        # (now ClaimEpisode, lambda_src/probe/claim.py); GetExecutionHistory, the history
        # size. Remove in the release after next.
        sid        = "OwnExecutions"
        actions    = ["states:DescribeExecution", "states:GetExecutionHistory"]
        resources  = ["arn:${var.partition}:states:${var.region}:${var.account_id}:execution:${var.state_machine_name}:*"]
        conditions = []
      },
      {
        sid        = "ToggleEventSourceMappings"
        actions    = ["lambda:GetEventSourceMapping", "lambda:UpdateEventSourceMapping"]
        resources  = local.mapping_arns
        conditions = []
      },
      {
        # The probe is invoked by its unqualified ARN (the Probe state): no version or alias
        # (make iam-report showed the ":*" grant unused).
        sid        = "InvokeProbe"
        actions    = ["lambda:InvokeFunction"]
        resources  = [var.probe_function_arn]
        conditions = []
      },
      {
        # Only for executions that started before the probe function read the queue at the open
        # (their definition reads it in a state of its own): remove in the release after next.
        sid        = "ReadQueueRetention"
        actions    = ["sqs:GetQueueAttributes"]
        resources  = [var.queue_arn]
        conditions = []
      },
      {
        # Only for executions that started before the probe function took these over (the
        # settings recorded at the open and the control marker, which their definitions read and
        # write in states of their own): remove in the release after next.
        sid        = "OperatorControlParameters"
        actions    = ["ssm:GetParameter", "ssm:PutParameter"]
        resources  = local.parameter_arns
        conditions = []
      },
      {
        # The failure path re-arms the alarm (FailureResetAlarm); an alarm the module did not
        # create is read first (FailureReadAlarm: a composite alarm is never set).
        sid        = "WatchAndRearmAlarm"
        actions    = var.alarm_is_metric ? ["cloudwatch:SetAlarmState"] : ["cloudwatch:DescribeAlarms", "cloudwatch:SetAlarmState"]
        resources  = [var.alarm_arn]
        conditions = []
      },
      {
        # PutMetricData has no resource-level permissions ("*" is required); the namespace
        # condition limits it to this module's metric namespace.
        sid       = "PublishCircuitStateMetric"
        actions   = ["cloudwatch:PutMetricData"]
        resources = ["*"]
        conditions = [{
          test     = "StringEquals"
          variable = "cloudwatch:namespace"
          values   = [var.metric_namespace]
        }]
      },
      {
        # Step Functions delivers execution logs through CloudWatch Logs vended log delivery,
        # whose APIs do not support resource-level permissions: AWS documents "*" for these.
        # AWS uses them when the state machine is created or updated with logging; the emulator
        # never calls them, so make iam-report lists them as unused.
        sid = "ExecutionLogDelivery"
        actions = [
          "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
          "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
          "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
        ]
        resources  = ["*"]
        conditions = []
      },
    ],
    local.notify_statements,
    local.events_enabled ? [{
      # Transition events (the Announce* states), on the one bus named.
      sid        = "PutTransitionEvents"
      actions    = ["events:PutEvents"]
      resources  = [var.transition_event_bus_arn]
      conditions = []
    }] : [],
    var.kms_key_arn != null ? [{
      # The definition and execution history are encrypted with the key (this state machine only).
      sid       = "StateMachineEncryptionKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [var.kms_key_arn]
      conditions = [{
        test     = "StringEquals"
        variable = "kms:EncryptionContext:aws:states:stateMachineArn"
        values   = [local.state_machine_arn]
      }]
    }] : [],
    local.xray_statements,
  )

  # Shared by both state machines' roles (cleanup.tf).
  notify_statements = !local.notifications_enabled ? [] : concat(
    [{
      sid        = "Notify"
      actions    = ["sns:Publish"]
      resources  = [var.sns_topic_arn]
      conditions = []
    }],
    var.sns_kms_key_arn == null ? [] : [{
      sid        = "NotifyEncryptedTopic"
      actions    = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources  = [var.sns_kms_key_arn]
      conditions = []
    }],
  )
  xray_statements = !var.tracing_enabled ? [] : [{
    # X-Ray trace and sampling APIs have no resource-level permissions: "*" is required.
    sid        = "XRayTracing"
    actions    = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
    resources  = ["*"]
    conditions = []
  }]
}

data "aws_iam_policy_document" "this" {
  dynamic "statement" {
    for_each = local.statements

    content {
      sid       = statement.value.sid
      effect    = "Allow"
      actions   = statement.value.actions
      resources = statement.value.resources

      dynamic "condition" {
        for_each = statement.value.conditions

        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }
}

resource "aws_iam_role" "this" {
  name               = var.role_name
  description        = "Step Functions state machine of circuit breaker ${var.circuit_name}."
  assume_role_policy = data.aws_iam_policy_document.assume["main"].json
  tags               = var.tags

  path                 = var.role_path
  permissions_boundary = var.role_permissions_boundary
}

resource "aws_iam_role_policy" "this" {
  name   = "least-privilege"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}
