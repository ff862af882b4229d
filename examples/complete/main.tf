# The seed's example stack in Terraform: a protected function fed by a queue (with a DLQ) through
# an event source mapping, and the circuit breaker in front of it, with every feature on:
# notifications (SNS, with a queue subscribed so they can be read back), rejitter, half-open ramp.
provider "aws" {
  region = var.region
}

locals {
  tags = merge(var.tags, { Example = "complete", Circuit = var.name })

  # Bring-your-own alarm: with fast_alarm_period_seconds the function publishes its own
  # high-resolution Invocations/Errors metrics and a 10 or 30 s error-rate alarm on them opens the
  # circuit (AWS/Lambda metrics have 1-minute resolution: the module's own alarm needs periods of
  # 60 s or more). The demo and the end-to-end tests use it to run in seconds.
  fast_alarm       = var.fast_alarm_period_seconds != null
  metric_namespace = "CircuitBreakerExample/${var.name}"
}

# ---- The protected workload -------------------------------------------------------------------
resource "aws_sqs_queue" "dlq" {
  name                      = "${var.name}-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
  tags                      = local.tags
}

resource "aws_sqs_queue" "work" {
  name                       = "${var.name}-work"
  visibility_timeout_seconds = var.queue_visibility_timeout_seconds
  message_retention_seconds  = var.queue_retention_seconds
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = 15
  })
  tags = local.tags
}

# Optional: where the protected function records what it processed (demo and tests count by id).
resource "aws_sqs_queue" "processed" {
  count = var.record_processed ? 1 : 0

  name                    = "${var.name}-processed"
  sqs_managed_sse_enabled = true
  tags                    = local.tags
}

data "aws_iam_policy_document" "assume_lambda" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "protected" {
  name               = "${var.name}-protected"
  assume_role_policy = data.aws_iam_policy_document.assume_lambda.json
  tags               = local.tags
}

data "aws_iam_policy_document" "protected" {
  statement {
    sid       = "ConsumeWorkQueue"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
    resources = [aws_sqs_queue.work.arn]
  }
  dynamic "statement" {
    for_each = aws_sqs_queue.processed
    content {
      sid       = "RecordProcessed"
      actions   = ["sqs:SendMessage"]
      resources = [statement.value.arn]
    }
  }
  dynamic "statement" {
    for_each = local.fast_alarm ? [1] : []
    content {
      sid       = "PublishHighResolutionMetrics"
      actions   = ["cloudwatch:PutMetricData"]
      resources = ["*"] # PutMetricData has no resource-level permissions
      condition {
        test     = "StringEquals"
        variable = "cloudwatch:namespace"
        values   = [local.metric_namespace]
      }
    }
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.protected.arn}:*"]
  }
}

resource "aws_iam_role_policy" "protected" {
  name   = "protected"
  role   = aws_iam_role.protected.id
  policy = data.aws_iam_policy_document.protected.json
}

resource "aws_cloudwatch_log_group" "protected" {
  name              = "/aws/lambda/${var.name}-protected"
  retention_in_days = 7
  tags              = local.tags
}

resource "aws_lambda_function" "protected" {
  function_name    = "${var.name}-protected"
  description      = "Example protected function: fails while SHOULD_ERROR is true."
  role             = aws_iam_role.protected.arn
  runtime          = "python3.12"
  handler          = "handler.handler"
  filename         = "${path.module}/dist/protected.zip"
  source_code_hash = filebase64sha256("${path.module}/dist/protected.zip")
  timeout          = var.function_timeout_seconds

  environment {
    variables = {
      SHOULD_ERROR        = tostring(var.should_error)
      PROCESSED_QUEUE_URL = var.record_processed ? aws_sqs_queue.processed[0].url : ""
      METRIC_NAMESPACE    = local.fast_alarm ? local.metric_namespace : ""
    }
  }

  tags       = local.tags
  depends_on = [aws_cloudwatch_log_group.protected, aws_iam_role_policy.protected]
}

resource "aws_lambda_event_source_mapping" "work" {
  event_source_arn                   = aws_sqs_queue.work.arn
  function_name                      = aws_lambda_function.protected.arn
  batch_size                         = 10
  maximum_batching_window_in_seconds = 0
  function_response_types            = ["ReportBatchItemFailures"]

  # Required with the circuit breaker: the circuit, not Terraform, decides whether the mapping
  # is enabled. Without this, an apply while the circuit is open would silently close it.
  lifecycle {
    ignore_changes = [enabled]
  }

  tags = local.tags
}

# ---- Notifications ----------------------------------------------------------------------------
# The module creates the circuit's topic (its ARN is known at plan time); a queue subscribed to it
# lets the notifications be read back (demo, tests, chat bots).
resource "aws_sqs_queue" "notifications" {
  name                    = "${var.name}-notifications"
  sqs_managed_sse_enabled = true
  tags                    = local.tags
}

data "aws_iam_policy_document" "notifications_queue" {
  statement {
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.notifications.arn]
    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [module.circuit_breaker.sns_topic_arn]
    }
  }
}

resource "aws_sqs_queue_policy" "notifications" {
  queue_url = aws_sqs_queue.notifications.id
  policy    = data.aws_iam_policy_document.notifications_queue.json
}

resource "aws_sns_topic_subscription" "notifications" {
  topic_arn            = module.circuit_breaker.sns_topic_arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.notifications.arn
  raw_message_delivery = true

  # the topic ARN is known at plan time (computed from the circuit's name): wait for the topic
  depends_on = [module.circuit_breaker]
}

# ---- The circuit breaker ----------------------------------------------------------------------
module "circuit_breaker" {
  source = "../.."

  name                      = var.name
  function_name             = aws_lambda_function.protected.function_name
  event_source_mapping_uuid = aws_lambda_event_source_mapping.work.uuid
  queue_arn                 = aws_sqs_queue.work.arn
  queue_url                 = aws_sqs_queue.work.url

  existing_alarm = local.fast_alarm ? {
    arn                = aws_cloudwatch_metric_alarm.fast[0].arn
    name               = aws_cloudwatch_metric_alarm.fast[0].alarm_name
    period_seconds     = var.fast_alarm_period_seconds
    evaluation_periods = var.alarm_evaluation_periods
  } : null
  alarm_watch_seconds = var.alarm_watch_seconds

  # Operating: the dashboard and the alarms on the breaker itself (they notify the topic).
  create_dashboard         = var.create_dashboard
  open_alarm_after_seconds = var.open_alarm_after_seconds

  alarm_threshold_percent   = var.alarm_threshold_percent
  alarm_min_invocations     = var.alarm_min_invocations
  alarm_period_seconds      = var.alarm_period_seconds
  alarm_evaluation_periods  = var.alarm_evaluation_periods
  alarm_datapoints_to_alarm = var.alarm_datapoints_to_alarm

  open_wait_seconds                       = var.open_wait_seconds
  backoff_initial_seconds                 = var.backoff_initial_seconds
  backoff_rate                            = var.backoff_rate
  backoff_max_seconds                     = var.backoff_max_seconds
  probe_max_attempts                      = var.probe_max_attempts
  probe_synthetic_body                    = var.probe_synthetic_body
  probe_failure_visibility_margin_seconds = var.probe_failure_visibility_margin_seconds
  retention_margin_seconds                = var.retention_margin_seconds
  give_up_action                          = var.give_up_action
  breaker_retry_interval_seconds          = var.breaker_retry_interval_seconds
  breaker_retry_max_delay_seconds         = var.breaker_retry_max_delay_seconds

  half_open_max_concurrency = var.half_open_max_concurrency
  half_open_seconds         = var.half_open_seconds

  transition_event_bus = var.transition_event_bus

  rejitter_enabled           = var.rejitter_enabled
  rejitter_window_seconds    = var.rejitter_window_seconds
  rejitter_min_delay_seconds = var.rejitter_min_delay_seconds
  rejitter_max_delay_seconds = var.rejitter_max_delay_seconds
  rejitter_timeout_seconds   = var.rejitter_timeout_seconds
  dead_letter_queue_arn      = aws_sqs_queue.dlq.arn

  log_retention_days = 7
  tags               = local.tags
}

# ---- Optional fast alarm (bring your own: existing_alarm) -----------------------------------------
# The same error rate as the module's alarm, on the function's own high-resolution metrics.
resource "aws_cloudwatch_metric_alarm" "fast" {
  count = local.fast_alarm ? 1 : 0

  alarm_name          = "${var.name}-fast-error-rate"
  alarm_description   = "Error rate of ${aws_lambda_function.protected.function_name} on its high-resolution metrics."
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = var.alarm_threshold_percent
  evaluation_periods  = var.alarm_evaluation_periods
  datapoints_to_alarm = coalesce(var.alarm_datapoints_to_alarm, var.alarm_evaluation_periods)
  treat_missing_data  = "notBreaching"

  metric_query {
    id          = "error_rate"
    expression  = "IF(m2 >= ${var.alarm_min_invocations}, 100 * FILL(m1, 0) / m2, 0)"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = { m1 = "Errors", m2 = "Invocations" }
    content {
      id          = metric_query.key
      return_data = false
      metric {
        namespace   = local.metric_namespace
        metric_name = metric_query.value
        period      = var.fast_alarm_period_seconds
        stat        = "Sum"
        dimensions  = { FunctionName = aws_lambda_function.protected.function_name }
      }
    }
  }

  tags = local.tags
}
