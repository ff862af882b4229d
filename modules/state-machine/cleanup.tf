# Cleanup after an execution that ended without its own close path (stopped, timed out, failed
# uncatchably): the execution-status rule starts this small state machine, which turns the
# rejitter's event source mapping off, so that it cannot keep re-sending the queue. Only with the
# rejitter (the protected mapping is left to the operator: the status notification names it).
locals {
  cleanup_enabled = local.rejitter_enabled
  cleanup_name    = "${var.state_machine_name}-cleanup"
  cleanup_arn     = "arn:${var.partition}:states:${var.region}:${var.account_id}:stateMachine:${local.cleanup_name}"

  cleanup_definition = jsonencode(yamldecode(templatefile("${path.module}/cleanup.asl.yaml.tftpl", {
    circuit_name          = var.circuit_name
    partition             = var.partition
    rejitter_mapping_uuid = local.cleanup_enabled ? var.rejitter_mapping_uuid : ""
    notifications_enabled = local.notifications_enabled
    topic_arn             = var.sns_topic_arn
    sdk_call              = jsonencode(local.task_defaults.sdk_call)
    notify_call           = jsonencode(local.task_defaults.notify_call)
  })))
}

locals {
  cleanup_statements = !local.cleanup_enabled ? [] : concat(
    [{
      sid        = "DisableRejitterMapping"
      actions    = ["lambda:UpdateEventSourceMapping"]
      resources  = ["arn:${var.partition}:lambda:${var.region}:${var.account_id}:event-source-mapping:${var.rejitter_mapping_uuid}"]
      conditions = []
    }],
    local.notify_statements,
    var.kms_key_arn == null ? [] : [{
      sid        = "StateMachineEncryptionKey"
      actions    = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources  = [var.kms_key_arn]
      conditions = [{ test = "StringEquals", variable = "kms:EncryptionContext:aws:states:stateMachineArn", values = [local.cleanup_arn] }]
    }],
    # tracing_configuration is on for this state machine too: it needs the same X-Ray grant.
    local.xray_statements,
  )
}

data "aws_iam_policy_document" "cleanup" {
  count = local.cleanup_enabled ? 1 : 0

  dynamic "statement" {
    for_each = local.cleanup_statements

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

resource "aws_iam_role" "cleanup" {
  count = local.cleanup_enabled ? 1 : 0

  name               = var.cleanup_role_name
  description        = "Cleanup state machine of circuit breaker ${var.circuit_name}."
  assume_role_policy = data.aws_iam_policy_document.assume["cleanup"].json
  tags               = var.tags

  path                 = var.role_path
  permissions_boundary = var.role_permissions_boundary
}

resource "aws_iam_role_policy" "cleanup" {
  count = local.cleanup_enabled ? 1 : 0

  name   = "least-privilege"
  role   = aws_iam_role.cleanup[0].id
  policy = data.aws_iam_policy_document.cleanup[0].json
}

resource "aws_sfn_state_machine" "cleanup" {
  count = local.cleanup_enabled ? 1 : 0

  name       = local.cleanup_name
  type       = "STANDARD"
  role_arn   = aws_iam_role.cleanup[0].arn
  definition = local.cleanup_definition

  tracing_configuration {
    enabled = var.tracing_enabled
  }

  dynamic "encryption_configuration" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]

    content {
      type                              = "CUSTOMER_MANAGED_KMS_KEY"
      kms_key_id                        = encryption_configuration.value
      kms_data_key_reuse_period_seconds = var.kms_data_key_reuse_period_seconds
    }
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.cleanup]
}
