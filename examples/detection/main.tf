# Detection that sees what the mapping sees. A function with partial batch responses
# (ReportBatchItemFailures) that fails every record returns normally: Lambda counts no Errors,
# and an alarm on the error rate never trips. Here the circuit's alarm also reads the mapping's
# own event counts (FailedInvokeEventCount / InvokedEventCount, metrics_config EventCount) and the
# share of slow calls (Duration above slow_call_duration_threshold_ms), and opens on the worst.
provider "aws" {
  region = var.region
}

locals {
  tags = merge(var.tags, { Example = "detection" })
}

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

# The handler is examples/complete/src/handler.py (built by `make package`): REPORT_ALL_FAILED
# reports every record in batchItemFailures, DELAY_MS makes every call slower.
resource "aws_lambda_function" "protected" {
  function_name    = "${var.name}-protected"
  description      = "Example protected function with partial batch responses: REPORT_ALL_FAILED fails every record, DELAY_MS slows every call."
  role             = aws_iam_role.protected.arn
  runtime          = "python3.12"
  handler          = "handler.handler"
  filename         = "${path.module}/dist/protected.zip"
  source_code_hash = filebase64sha256("${path.module}/dist/protected.zip")
  timeout          = var.function_timeout_seconds

  environment {
    variables = {
      SHOULD_ERROR        = "false"
      REPORT_ALL_FAILED   = "false"
      DELAY_MS            = "0"
      PROCESSED_QUEUE_URL = var.record_processed ? aws_sqs_queue.processed[0].url : ""
    }
  }

  tags       = local.tags
  depends_on = [aws_cloudwatch_log_group.protected, aws_iam_role_policy.protected]
}

resource "aws_lambda_event_source_mapping" "work" {
  event_source_arn        = aws_sqs_queue.work.arn
  function_name           = aws_lambda_function.protected.arn
  batch_size              = var.batch_size
  function_response_types = ["ReportBatchItemFailures"]

  # What the circuit's alarm reads with alarm_failure_signal = "mapping_events": the mapping's
  # event counts (AWS/Lambda, dimension EventSourceMappingUUID; billed as custom metrics).
  metrics_config {
    metrics = ["EventCount"]
  }

  # Required with the circuit breaker: the circuit, not Terraform, decides whether it is enabled.
  lifecycle {
    ignore_changes = [enabled]
  }

  tags = local.tags
}

module "circuit_breaker" {
  source = "../.."

  name                      = var.name
  function_name             = aws_lambda_function.protected.function_name
  event_source_mapping_uuid = aws_lambda_event_source_mapping.work.uuid
  queue_arn                 = aws_sqs_queue.work.arn
  queue_url                 = aws_sqs_queue.work.url

  # The module's alarm (AWS/Lambda, 1-minute periods), on the worst of three signals: the
  # function's error rate, the mapping's failed events (which count partial batch failures), and
  # the share of calls slower than slow_call_duration_threshold_ms. The plan fails if the
  # mapping does not publish its event counts.
  alarm_failure_signal             = "mapping_events"
  event_source_mapping_metrics     = flatten(aws_lambda_event_source_mapping.work.metrics_config[*].metrics)
  slow_call_duration_threshold_ms  = var.slow_call_duration_threshold_ms
  slow_call_rate_threshold_percent = var.slow_call_rate_threshold_percent
  alarm_evaluation_periods         = var.alarm_evaluation_periods
  alarm_min_invocations            = var.alarm_min_invocations
  alarm_watch_seconds              = var.alarm_watch_seconds

  open_wait_seconds       = var.open_wait_seconds
  backoff_initial_seconds = var.backoff_initial_seconds
  backoff_max_seconds     = var.backoff_max_seconds

  tags = local.tags
}
