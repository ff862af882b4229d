# Error-rate alarm on the protected function: 100 * Errors / Invocations >= threshold, evaluated only
# when the period saw at least `min_invocations` calls. Missing Errors datapoints count as zero (FILL),
# periods without invocations are not breaching. The expression uses only the subset of metric math
# that the LocalStack harness evaluates: ids, numbers, + - * /, comparisons, FILL and IF.
resource "aws_cloudwatch_metric_alarm" "this" {
  alarm_name          = var.alarm_name
  alarm_description   = "Circuit breaker ${var.circuit_name}: error rate of Lambda ${var.function_name} >= ${var.threshold_percent}% (periods with >= ${var.min_invocations} invocations)."
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = var.threshold_percent
  evaluation_periods  = var.evaluation_periods
  datapoints_to_alarm = var.datapoints_to_alarm
  treat_missing_data  = "notBreaching"
  actions_enabled     = true

  metric_query {
    id          = "error_rate"
    label       = "Error rate (%)"
    expression  = "IF(m2 >= ${var.min_invocations}, 100 * FILL(m1, 0) / m2, 0)"
    return_data = true
  }

  metric_query {
    id          = "m1"
    return_data = false

    metric {
      namespace   = "AWS/Lambda"
      metric_name = "Errors"
      period      = var.period_seconds
      stat        = "Sum"
      dimensions = {
        FunctionName = var.function_name
      }
    }
  }

  metric_query {
    id          = "m2"
    return_data = false

    metric {
      namespace   = "AWS/Lambda"
      metric_name = "Invocations"
      period      = var.period_seconds
      stat        = "Sum"
      dimensions = {
        FunctionName = var.function_name
      }
    }
  }

  tags = var.tags
}
