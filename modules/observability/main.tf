# Observability of one circuit: alarms on the breaker itself and an optional dashboard.

# ---- Alarms on the breaker ---------------------------------------------------------------------
# An episode execution that fails, is aborted or times out may have left the circuit open: the
# execution-status rule already notifies each one; this alarm makes it visible where on-call looks.
resource "aws_cloudwatch_metric_alarm" "execution_failed" {
  count = var.alarms_enabled.execution_failed ? 1 : 0

  alarm_name          = "${var.alarm_name_prefix}-execution-failed"
  alarm_description   = "Circuit breaker ${var.circuit_name}: an execution of its state machine failed, was aborted or timed out. The circuit may be left open: run sqs-circuit-breaker status ${var.circuit_name}."
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"

  metric_query {
    id          = "ended_badly"
    expression  = "failed + aborted + timed_out"
    label       = "Executions failed, aborted or timed out"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = { failed = "ExecutionsFailed", aborted = "ExecutionsAborted", timed_out = "ExecutionsTimedOut" }
    content {
      id = metric_query.key
      metric {
        namespace   = "AWS/States"
        metric_name = metric_query.value
        dimensions  = { StateMachineArn = var.state_machine_arn }
        stat        = "Sum"
        period      = 60
      }
    }
  }

  alarm_actions = var.alarm_actions
  ok_actions    = var.alarm_actions
  tags          = var.tags
}

# Each probe loop of an open episode publishes OpenSeconds (its time open so far); the close
# publishes 0. Between loops there is no data: treat_missing_data = ignore keeps the alarm in its
# state, so it stays in ALARM from the first loop past the threshold until the close.
resource "aws_cloudwatch_metric_alarm" "open_too_long" {
  count = var.alarms_enabled.open_too_long ? 1 : 0

  alarm_name          = "${var.alarm_name_prefix}-open-too-long"
  alarm_description   = "Circuit breaker ${var.circuit_name}: the circuit has been open for more than ${var.open_alarm_seconds} s (the function has not recovered; the backlog waits in the queue). Run sqs-circuit-breaker status ${var.circuit_name}."
  namespace           = var.metric_namespace
  metric_name         = "OpenSeconds"
  dimensions          = { Circuit = var.circuit_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = var.open_alarm_seconds
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "ignore"

  alarm_actions = var.alarm_actions
  ok_actions    = var.alarm_actions
  tags          = var.tags
}

# The alarm -> state machine rule could not start an execution (after EventBridge's retries the
# event also lands in the delivery DLQ, which has its own alarm): the circuit did not open.
resource "aws_cloudwatch_metric_alarm" "trigger_failed" {
  count = var.alarms_enabled.trigger_failed ? 1 : 0

  alarm_name          = "${var.alarm_name_prefix}-trigger-failed"
  alarm_description   = "Circuit breaker ${var.circuit_name}: the EventBridge rule ${var.rule_name} failed to start the state machine (FailedInvocations). The circuit may not open when the function fails: check the rule's role and the state machine."
  namespace           = "AWS/Events"
  metric_name         = "FailedInvocations"
  dimensions          = { RuleName = var.rule_name }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"

  alarm_actions = var.alarm_actions
  ok_actions    = var.alarm_actions
  tags          = var.tags
}

# ---- Dashboard ---------------------------------------------------------------------------------
locals {
  circuit_dim = ["Circuit", var.circuit_name]
  sm_dim      = ["StateMachineArn", var.state_machine_arn]

  slow_ms = coalesce(var.slow_call_duration_threshold_ms, 0) # used only when set
  failure_signals = join(", ", compact([
    "error rate",
    var.event_source_mapping_uuid == null ? "" : "failed events",
    var.slow_call_duration_threshold_ms == null ? "" : "slow calls",
  ]))

  widgets = [
    {
      type = "metric", x = 0, y = 0, width = 12, height = 6
      properties = {
        title   = "Circuit state (1 open, 0.5 recovering, 0 closed)"
        region  = var.region
        view    = "timeSeries"
        stat    = "Maximum"
        period  = 60
        metrics = [[var.metric_namespace, "CircuitState", local.circuit_dim[0], local.circuit_dim[1], { label = "CircuitState" }]]
        yAxis   = { left = { min = 0, max = 1 } }
      }
    },
    {
      type = "alarm", x = 12, y = 0, width = 12, height = 6
      properties = {
        title  = "Alarms"
        alarms = concat([var.alarm_arn], [for a in concat(aws_cloudwatch_metric_alarm.execution_failed, aws_cloudwatch_metric_alarm.open_too_long, aws_cloudwatch_metric_alarm.trigger_failed) : a.arn])
      }
    },
    {
      type = "metric", x = 0, y = 6, width = 12, height = 6
      properties = {
        title  = "Function ${var.function_name}: invocations, errors, ${local.failure_signals}"
        region = var.region
        view   = "timeSeries"
        period = 60
        metrics = concat(
          [
            ["AWS/Lambda", "Invocations", "FunctionName", var.function_name, { id = "inv", stat = "Sum" }],
            ["AWS/Lambda", "Errors", "FunctionName", var.function_name, { id = "err", stat = "Sum" }],
            [{ expression = "IF(inv > 0, 100 * FILL(err, 0) / inv, 0)", id = "rate", label = "Error rate (%)", yAxis = "right" }],
          ],
          # What else the module's alarm judges: the mapping's failed events, the slow calls.
          [for m in [
            ["AWS/Lambda", "InvokedEventCount", "EventSourceMappingUUID", var.event_source_mapping_uuid, { id = "events", stat = "Sum", visible = false }],
            ["AWS/Lambda", "FailedInvokeEventCount", "EventSourceMappingUUID", var.event_source_mapping_uuid, { id = "failed", stat = "Sum", visible = false }],
            [{ expression = "IF(events > 0, 100 * FILL(failed, 0) / events, 0)", id = "eventrate", label = "Failed events of the mapping (%)", yAxis = "right" }],
          ] : m if var.event_source_mapping_uuid != null],
          [for m in [
            ["AWS/Lambda", "Duration", "FunctionName", var.function_name, { id = "fast", stat = "PR(0:${local.slow_ms})", visible = false }],
            [{ expression = "100 - fast", id = "slow", label = "Calls slower than ${local.slow_ms} ms (%)", yAxis = "right" }],
          ] : m if var.slow_call_duration_threshold_ms != null],
        )
        annotations = var.alarm_threshold == null ? {} : {
          horizontal = [{ label = "Alarm threshold (%)", value = var.alarm_threshold, yAxis = "right" }]
        }
      }
    },
    {
      type = "metric", x = 12, y = 6, width = 12, height = 6
      properties = {
        title  = "Queue ${var.queue_name}: depth and oldest message"
        region = var.region
        view   = "timeSeries"
        stat   = "Maximum"
        period = 60
        metrics = concat(
          [
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", var.queue_name, { label = "Visible" }],
            ["AWS/SQS", "ApproximateNumberOfMessagesNotVisible", "QueueName", var.queue_name, { label = "Not visible" }],
            ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", var.queue_name, { label = "Oldest message age (s)", yAxis = "right" }],
          ],
          var.dlq_name == null ? [] : [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", var.dlq_name, { label = "DLQ depth" }]],
          [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", var.delivery_dlq_name, { label = "Breaker delivery DLQ depth" }]],
        )
      }
    },
    {
      type = "metric", x = 0, y = 12, width = 12, height = 6
      properties = {
        title  = "Episode executions"
        region = var.region
        view   = "timeSeries"
        stat   = "Sum"
        period = 300
        metrics = [
          for m in ["ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsAborted", "ExecutionsTimedOut"] :
          ["AWS/States", m, local.sm_dim[0], local.sm_dim[1]]
        ]
      }
    },
    {
      type = "metric", x = 12, y = 12, width = 12, height = 6
      properties = {
        title  = "Probes and time open"
        region = var.region
        view   = "timeSeries"
        period = 300
        metrics = [
          ["AWS/Lambda", "Invocations", "FunctionName", var.probe_function, { stat = "Sum", label = "Probes" }],
          ["AWS/Lambda", "Errors", "FunctionName", var.probe_function, { stat = "Sum", label = "Probe errors" }],
          [var.metric_namespace, "OpenSeconds", local.circuit_dim[0], local.circuit_dim[1], { stat = "Maximum", label = "Time open (s)", yAxis = "right" }],
        ]
      }
    },
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  count = var.create_dashboard ? 1 : 0

  dashboard_name = var.dashboard_name
  dashboard_body = jsonencode({ widgets = local.widgets })
}
