output "state_machine_arn" {
  description = "ARN of the state machine."
  value       = aws_sfn_state_machine.this.arn
}

output "state_machine_name" {
  description = "Name of the state machine."
  value       = aws_sfn_state_machine.this.name
}

output "computed_state_machine_arn" {
  description = "ARN of the state machine, computed from its name (known at plan time)."
  value       = local.state_machine_arn
}

output "lease_table_name" {
  description = "Name of the DynamoDB table that holds the episode lease (which execution owns the circuit)."
  value       = aws_dynamodb_table.lease.name
}

output "lease_table_arn" {
  description = "ARN of the DynamoDB table that holds the episode lease."
  value       = aws_dynamodb_table.lease.arn
}

output "role_arn" {
  description = "ARN of the state machine's role."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the state machine's role."
  value       = aws_iam_role.this.name
}

output "log_group_name" {
  description = "Name of the execution log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "definition" {
  description = "The rendered Amazon States Language definition (JSON)."
  value       = local.definition
}

output "backoff_schedule" {
  description = "The precomputed backoff schedule: waits, base, spread and visibility (seconds)."
  value       = local.schedule
}

output "policy_statements" {
  description = "Allow statements of the role's inline policy."
  value       = local.statements
}

output "policy_json" {
  description = "The role's inline policy (JSON)."
  value       = data.aws_iam_policy_document.this.json
}

output "cleanup_state_machine_arn" {
  description = "ARN of the cleanup state machine (turns the rejitter off after an execution ended without closing), or null without the rejitter."
  # Built from the name (known at plan time), like the main state machine's.
  value      = local.cleanup_enabled ? local.cleanup_arn : null
  depends_on = [aws_sfn_state_machine.cleanup]
}

output "cleanup_definition" {
  description = "The cleanup state machine's definition (JSON), or null without the rejitter."
  value       = local.cleanup_enabled ? local.cleanup_definition : null
}

output "control_parameter_name" {
  description = "Name of the SSM parameter holding the operator control marker."
  value       = aws_ssm_parameter.control.name
}

output "settings_parameter_name" {
  description = "Name of the SSM parameter holding the mapping settings remembered at the last open."
  value       = aws_ssm_parameter.settings.name
}

output "assume_role_policy_json" {
  description = "The state machine role's trust policy (JSON)."
  value       = data.aws_iam_policy_document.assume["main"].json
}

output "cleanup_assume_role_policy_json" {
  description = "The cleanup role's trust policy (JSON), or null without the rejitter."
  value       = local.cleanup_enabled ? data.aws_iam_policy_document.assume["cleanup"].json : null
}

output "cleanup_role_name" {
  description = "Name of the cleanup state machine's role, or null without the rejitter."
  value       = local.cleanup_enabled ? aws_iam_role.cleanup[0].name : null
}

output "roles" {
  description = "Path and permissions boundary of each role (role, cleanup)."
  value = {
    for k, r in merge({ role = aws_iam_role.this }, local.cleanup_enabled ? { cleanup = aws_iam_role.cleanup[0] } : {}) :
    k => { path = r.path, permissions_boundary = r.permissions_boundary }
  }
}

output "encryption" {
  description = "Encryption of each state machine (main, cleanup): type, key, data key reuse period."
  value = {
    for k, sm in merge({ main = aws_sfn_state_machine.this }, local.cleanup_enabled ? { cleanup = aws_sfn_state_machine.cleanup[0] } : {}) :
    k => [for e in sm.encryption_configuration : { type = e.type, kms_key_id = e.kms_key_id, reuse = e.kms_data_key_reuse_period_seconds }]
  }
}

output "cleanup_policy_statements" {
  description = "Allow statements of the cleanup state machine's role ([] without the rejitter)."
  value       = local.cleanup_statements
}

output "cleanup_policy_json" {
  description = "The cleanup role's inline policy (JSON), or null without the rejitter."
  value       = local.cleanup_enabled ? data.aws_iam_policy_document.cleanup[0].json : null
}

output "descriptor" {
  description = "The circuit's descriptor (schema sqs-circuit-breaker/descriptor, version 1): the resources operator tools need."
  value       = local.descriptor
}

output "descriptor_parameter_name" {
  description = "Name of the SSM parameter that publishes the descriptor (JSON)."
  value       = aws_ssm_parameter.descriptor.name
}
