# The circuit breaker with a function made by terraform-aws-modules/lambda/aws.
#
# That module can create the function's event source mappings itself (`event_source_mapping`),
# but its aws_lambda_event_source_mapping has no lifecycle { ignore_changes = [enabled] }: every
# `terraform apply` while the circuit is open would re-enable the mapping (the breaker notices
# before its next probe, ends the episode as "reenabled_elsewhere", and its watch re-opens the
# circuit if the function still fails: an apply-driven flap). So: let the module make the
# function, and make the mapping yourself, with ignore_changes, as below.
provider "aws" {
  region = var.region
}

locals {
  tags = merge(var.tags, { Example = "with-terraform-aws-modules-lambda" })
}

resource "aws_sqs_queue" "work" {
  name                       = "${var.name}-work"
  visibility_timeout_seconds = 60
  sqs_managed_sse_enabled    = true
  tags                       = local.tags
}

module "lambda" {
  source  = "terraform-aws-modules/lambda/aws"
  version = "~> 7.0"

  function_name = "${var.name}-consumer"
  handler       = "handler.handler"
  runtime       = "python3.12"
  timeout       = 10

  create_package         = false
  local_existing_package = var.package_path

  # The function reads the queue: the module attaches this policy to its role.
  attach_policy_statements = true
  policy_statements = {
    consume = {
      effect    = "Allow"
      actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
      resources = [aws_sqs_queue.work.arn]
    }
  }

  # NOT `event_source_mapping = { ... }`: see the comment at the top.

  tags = local.tags
}

# The mapping, outside the module, with the lifecycle the circuit breaker needs.
resource "aws_lambda_event_source_mapping" "work" {
  event_source_arn = aws_sqs_queue.work.arn
  function_name    = module.lambda.lambda_function_arn
  batch_size       = 10

  lifecycle {
    ignore_changes = [enabled]
  }

  tags = local.tags
}

module "circuit_breaker" {
  source = "../.."

  name                      = var.name
  function_name             = module.lambda.lambda_function_name
  event_source_mapping_uuid = aws_lambda_event_source_mapping.work.uuid
  queue_arn                 = aws_sqs_queue.work.arn
  queue_url                 = aws_sqs_queue.work.url

  tags = local.tags
}
