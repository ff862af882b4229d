# The circuit's descriptor: one published, versioned record of the resources an operator tool needs
# (sqs-circuit-breaker reads it; so can any tool of yours). It is the contract between the module and
# the CLI, so the CLI never reads resource names out of the states' Parameters: a state may be renamed
# or restructured without breaking an operator's tooling.
#
# Versioning: `version` changes only when a field is removed or changes meaning (adding one keeps the
# version). A tool that reads version N refuses a descriptor of a higher version with a clear message
# ("upgrade the tool"), never a wrong answer. Terraform owns the value (no ignore_changes): an apply
# rewrites it. Standard tier, type String: free, and it holds no secret (names and ARNs only).
locals {
  descriptor_parameter_name = "${var.parameter_path}/descriptor"
  descriptor = {
    schema                 = "sqs-circuit-breaker/descriptor"
    version                = 1
    circuit                = var.circuit_name
    stateMachineArn        = local.state_machine_arn
    mappingUuid            = var.mapping_uuid
    queueUrl               = var.queue_url
    queueArn               = var.queue_arn
    functionArn            = var.target_function_arn
    alarmName              = var.alarm_name
    controlParameter       = local.control_parameter_name
    settingsParameter      = local.settings_parameter_name
    leaseTable             = var.lease_table_name
    rejitterMappingUuid    = var.rejitter_enabled ? var.rejitter_mapping_uuid : null
    topicArn               = var.notifications_enabled ? var.sns_topic_arn : null
    cleanupStateMachineArn = local.cleanup_enabled ? local.cleanup_arn : null
  }
}

resource "aws_ssm_parameter" "descriptor" {
  name        = local.descriptor_parameter_name
  description = "Circuit breaker ${var.circuit_name}: its resources, for operator tools (sqs-circuit-breaker). Written by Terraform; schema version in the value."
  type        = "String"
  tier        = "Standard"
  value       = jsonencode(local.descriptor)
  tags        = var.tags
}
