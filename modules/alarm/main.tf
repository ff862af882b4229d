# The alarm that opens the circuit. A period breaches when its failure rate, in percent, is at or
# above the threshold; only periods with at least `min_invocations` calls (or events) can breach,
# missing datapoints count as zero (FILL) and periods without traffic are not breaching.
#
# - function_errors (default): 100 * Errors / Invocations of the function. A function that reports
#   failures in batchItemFailures returns normally: Lambda counts no error.
# - mapping_events: the worse of that and 100 * FailedInvokeEventCount / InvokedEventCount of the
#   event source mapping (its EventCount metrics, per UUID), which counts the events of a response
#   with batchItemFailures as failed.
# - slow calls (optional, as Resilience4j's slowCallDurationThreshold / slowCallRateThreshold):
#   the share of invocations slower than the threshold (100 - PR(0:T) of Duration), scaled so that
#   its own threshold meets the alarm's; the worst of the signals is what the alarm judges.
#
# The expressions use only the subset of metric math that the LocalStack harness evaluates: ids,
# numbers, + - * /, comparisons, FILL and IF (statistics: Sum and PR).
locals {
  mapping_events = var.failure_signal == "mapping_events"
  slow_calls     = var.slow_call_duration_threshold_ms != null
  combined       = local.mapping_events || local.slow_calls
  floor          = var.min_invocations
  # The slow-call rate in the units of the failure threshold: its own threshold maps onto it.
  slow_scale = local.slow_calls ? var.threshold_percent / coalesce(var.slow_call_rate_threshold_percent, var.threshold_percent) : 1

  metrics = concat(
    [
      { id = "m1", name = "Errors", stat = "Sum", dimensions = { FunctionName = var.function_name } },
      { id = "m2", name = "Invocations", stat = "Sum", dimensions = { FunctionName = var.function_name } },
    ],
    local.mapping_events ? [
      { id = "e1", name = "FailedInvokeEventCount", stat = "Sum", dimensions = { EventSourceMappingUUID = var.event_source_mapping_uuid } },
      { id = "e2", name = "InvokedEventCount", stat = "Sum", dimensions = { EventSourceMappingUUID = var.event_source_mapping_uuid } },
    ] : [],
    local.slow_calls ? [
      { id = "d1", name = "Duration", stat = "PR(0:${var.slow_call_duration_threshold_ms})", dimensions = { FunctionName = var.function_name } },
    ] : [],
  )

  # The signals (return_data = false once combined) and the worst of them (returned).
  signals = concat(
    [{
      id         = "error_rate"
      label      = "Error rate (%)"
      expression = local.combined ? "IF(FILL(m2, 0) >= ${local.floor}, 100 * FILL(m1, 0) / m2, 0)" : "IF(m2 >= ${local.floor}, 100 * FILL(m1, 0) / m2, 0)"
    }],
    local.mapping_events ? [{
      id         = "event_failure_rate"
      label      = "Failed events of the mapping (%)"
      expression = "IF(FILL(e2, 0) >= ${local.floor}, 100 * FILL(e1, 0) / e2, 0)"
    }] : [],
    local.slow_calls ? [{
      id         = "slow_call_rate"
      label      = local.slow_scale == 1 ? "Calls slower than ${var.slow_call_duration_threshold_ms} ms (%)" : "Calls slower than ${var.slow_call_duration_threshold_ms} ms (%, x ${local.slow_scale})"
      expression = local.slow_scale == 1 ? "IF(FILL(m2, 0) >= ${local.floor}, 100 - FILL(d1, 100), 0)" : "IF(FILL(m2, 0) >= ${local.floor}, (100 - FILL(d1, 100)) * ${local.slow_scale}, 0)"
    }] : [],
  )
  ids = [for s in local.signals : s.id]
  worst = length(local.ids) == 3 ? format(
    "IF(%[1]s > %[2]s, IF(%[1]s > %[3]s, %[1]s, %[3]s), IF(%[2]s > %[3]s, %[2]s, %[3]s))", local.ids[0], local.ids[1], local.ids[2]
  ) : length(local.ids) == 2 ? format("IF(%[1]s > %[2]s, %[1]s, %[2]s)", local.ids[0], local.ids[1]) : null

  what = join(", ", compact([
    "error rate of Lambda ${var.function_name}",
    local.mapping_events ? "failed events of mapping ${var.event_source_mapping_uuid}" : "",
    local.slow_calls ? "calls slower than ${var.slow_call_duration_threshold_ms} ms (threshold ${coalesce(var.slow_call_rate_threshold_percent, var.threshold_percent)}%)" : "",
  ]))
}

resource "aws_cloudwatch_metric_alarm" "this" {
  alarm_name          = var.alarm_name
  alarm_description   = "Circuit breaker ${var.circuit_name}: ${local.combined ? "the worst of: ${local.what}" : local.what} >= ${var.threshold_percent}% (periods with >= ${var.min_invocations} invocations)."
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = var.threshold_percent
  evaluation_periods  = var.evaluation_periods
  datapoints_to_alarm = var.datapoints_to_alarm
  treat_missing_data  = "notBreaching"
  actions_enabled     = true

  dynamic "metric_query" {
    for_each = local.signals
    content {
      id          = metric_query.value.id
      label       = metric_query.value.label
      expression  = metric_query.value.expression
      return_data = !local.combined
    }
  }

  dynamic "metric_query" {
    for_each = local.combined ? [local.worst] : []
    content {
      id          = "failure_rate"
      label       = "Failure rate: the worst signal (%)"
      expression  = metric_query.value
      return_data = true
    }
  }

  dynamic "metric_query" {
    for_each = local.metrics
    content {
      id          = metric_query.value.id
      return_data = false

      metric {
        namespace   = "AWS/Lambda"
        metric_name = metric_query.value.name
        period      = var.period_seconds
        stat        = metric_query.value.stat
        dimensions  = metric_query.value.dimensions
      }
    }
  }

  tags = var.tags
}
