# The smallest real use of the module: a circuit breaker in front of a function, mapping and
# queue that already exist. Everything else takes the module's defaults (an error-rate alarm of
# 50 % in 2 consecutive 1-minute periods, probes backing off from 1 to 15 minutes; after 10 failed
# probes it notifies and stays open, probing about every 15 minutes, within the retention guard).
provider "aws" {
  region = var.region
}

data "aws_sqs_queue" "work" {
  name = var.queue_name
}

data "aws_lambda_function" "protected" {
  function_name = var.function_name
}

module "circuit_breaker" {
  source = "../.."

  name                      = var.name
  function_name             = data.aws_lambda_function.protected.function_name
  event_source_mapping_uuid = var.event_source_mapping_uuid
  queue_arn                 = data.aws_sqs_queue.work.arn
  queue_url                 = data.aws_sqs_queue.work.url
}
