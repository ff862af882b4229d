# Several circuits from one map: one circuit breaker per protected function, each in front of an
# existing function, queue and event source mapping (whose Terraform resources, wherever they
# live, have lifecycle { ignore_changes = [enabled] }). Every resource name derives from the
# circuit's name (the map key), so circuits never collide; shared settings sit in locals.
provider "aws" {
  region = var.region
}

locals {
  # Settings every circuit shares; a circuit's own entry in var.circuits overrides the optional ones.
  shared = {
    log_retention_days = 30
    tags               = merge(var.tags, { Example = "for-each" })
  }
}

data "aws_sqs_queue" "work" {
  for_each = var.circuits

  name = each.value.queue_name
}

module "circuit_breaker" {
  source   = "../.."
  for_each = var.circuits

  name                      = each.key
  function_name             = each.value.function_name
  event_source_mapping_uuid = each.value.event_source_mapping_uuid
  queue_arn                 = data.aws_sqs_queue.work[each.key].arn
  queue_url                 = data.aws_sqs_queue.work[each.key].url

  half_open_max_concurrency = each.value.half_open_max_concurrency
  probe_max_attempts        = each.value.probe_max_attempts
  give_up_action            = each.value.give_up_action

  # One topic for every circuit (created below) instead of one per circuit.
  create_sns_topic = false
  sns_topic_arn    = aws_sns_topic.circuits.arn

  log_retention_days = local.shared.log_retention_days
  tags               = merge(local.shared.tags, { Circuit = each.key })
}

# ---- One notification topic for all circuits ---------------------------------------------------
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

resource "aws_sns_topic" "circuits" {
  name              = var.topic_name
  kms_master_key_id = "alias/aws/sns"
  tags              = local.shared.tags
}

# A given topic's policy is yours: it must let the circuits' execution-status rules publish.
data "aws_iam_policy_document" "circuits_topic" {
  statement {
    sid       = "AccountOwner"
    actions   = ["sns:Publish", "sns:Subscribe", "sns:GetTopicAttributes", "sns:SetTopicAttributes"]
    resources = [aws_sns_topic.circuits.arn]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  statement {
    sid       = "ExecutionStatusRulesPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.circuits.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [for name in keys(var.circuits) : "arn:${data.aws_partition.current.partition}:events:${var.region}:${data.aws_caller_identity.current.account_id}:rule/${name}-cb-status"]
    }
  }
}

resource "aws_sns_topic_policy" "circuits" {
  arn    = aws_sns_topic.circuits.arn
  policy = data.aws_iam_policy_document.circuits_topic.json
}
