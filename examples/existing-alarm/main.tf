# Bring your own alarm (existing_alarm): the circuit opens when YOUR alarm enters ALARM. Here the
# protected function publishes its own high-resolution Errors metric and a 10 s alarm on it opens
# the circuit within seconds (AWS/Lambda metrics have 1-minute resolution: the module's own alarm
# needs periods of 60 s or more). Any metric or composite alarm works the same way, e.g. one on
# the queue's ApproximateAgeOfOldestMessage, or on a metric your function publishes per failed
# record (Errors does not count partial batch failures).
provider "aws" {
  region = var.region
}

locals {
  tags             = merge(var.tags, { Example = "existing-alarm" })
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
  sqs_managed_sse_enabled    = true
  redrive_policy             = jsonencode({ deadLetterTargetArn = aws_sqs_queue.dlq.arn, maxReceiveCount = 15 })
  tags                       = local.tags
}

# Optional: where the function records what it processed (the end-to-end test counts by id).
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
  statement {
    sid       = "PublishOwnMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # PutMetricData has no resource-level permissions
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [local.metric_namespace]
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

# The handler is examples/complete/src/handler.py (built by `make package`).
resource "aws_lambda_function" "protected" {
  function_name    = "${var.name}-protected"
  description      = "Example protected function: fails while SHOULD_ERROR is true; publishes its own Errors metric."
  role             = aws_iam_role.protected.arn
  runtime          = "python3.12"
  handler          = "handler.handler"
  filename         = "${path.module}/dist/protected.zip"
  source_code_hash = filebase64sha256("${path.module}/dist/protected.zip")
  timeout          = var.function_timeout_seconds

  environment {
    variables = {
      SHOULD_ERROR        = "false"
      METRIC_NAMESPACE    = local.metric_namespace
      PROCESSED_QUEUE_URL = var.record_processed ? aws_sqs_queue.processed[0].url : ""
    }
  }

  tags       = local.tags
  depends_on = [aws_cloudwatch_log_group.protected, aws_iam_role_policy.protected]
}

resource "aws_lambda_event_source_mapping" "work" {
  event_source_arn = aws_sqs_queue.work.arn
  function_name    = aws_lambda_function.protected.arn
  batch_size       = 10

  # Required with the circuit breaker: the circuit, not Terraform, decides whether it is enabled.
  lifecycle {
    ignore_changes = [enabled]
  }

  tags = local.tags
}

# ---- Your alarm -------------------------------------------------------------------------------
resource "aws_cloudwatch_metric_alarm" "errors" {
  alarm_name          = "${var.name}-errors"
  alarm_description   = "${aws_lambda_function.protected.function_name} reports errors (its own high-resolution metric)."
  namespace           = local.metric_namespace
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.protected.function_name }
  statistic           = "Sum"
  period              = var.alarm_period_seconds
  evaluation_periods  = var.alarm_evaluation_periods
  datapoints_to_alarm = 1
  threshold           = var.alarm_errors_threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  tags                = local.tags
}

# ---- The circuit breaker, opened by that alarm ------------------------------------------------
module "circuit_breaker" {
  source = "../.."

  name                      = var.name
  function_name             = aws_lambda_function.protected.function_name
  event_source_mapping_uuid = aws_lambda_event_source_mapping.work.uuid
  queue_arn                 = aws_sqs_queue.work.arn
  queue_url                 = aws_sqs_queue.work.url

  # period_seconds and evaluation_periods size the watch after a close: give your alarm's.
  existing_alarm = {
    arn                = aws_cloudwatch_metric_alarm.errors.arn
    name               = aws_cloudwatch_metric_alarm.errors.alarm_name
    period_seconds     = var.alarm_period_seconds
    evaluation_periods = var.alarm_evaluation_periods
  }

  open_wait_seconds       = var.open_wait_seconds
  backoff_initial_seconds = var.backoff_initial_seconds
  backoff_max_seconds     = var.backoff_max_seconds

  tags = local.tags
}
