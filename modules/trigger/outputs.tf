output "rule_arn" {
  description = "ARN of the EventBridge rule."
  value       = aws_cloudwatch_event_rule.this.arn
}

output "rule_name" {
  description = "Name of the EventBridge rule."
  value       = aws_cloudwatch_event_rule.this.name
}

output "role_arn" {
  description = "ARN of the IAM role used by the rule's target."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the IAM role used by the rule's target."
  value       = aws_iam_role.this.name
}

output "policy_json" {
  description = "The rule role's inline policy (JSON)."
  value       = data.aws_iam_policy_document.this.json
}

output "event_pattern" {
  description = "The rule's event pattern (JSON)."
  value       = aws_cloudwatch_event_rule.this.event_pattern
}

output "status_rule_arn" {
  description = "ARN of the execution-status rule (null without notifications)."
  value       = local.status_rule_enabled ? aws_cloudwatch_event_rule.status[0].arn : null
}

output "status_rule_name" {
  description = "Name of the execution-status rule (null without notifications)."
  value       = local.status_rule_enabled ? aws_cloudwatch_event_rule.status[0].name : null
}

output "status_event_pattern" {
  description = "The execution-status rule's event pattern (JSON; null without notifications)."
  value       = local.status_rule_enabled ? aws_cloudwatch_event_rule.status[0].event_pattern : null
}

output "status_input_template" {
  description = "The input template of the execution-status rule's SNS target (null without notifications)."
  value       = local.status_rule_enabled ? aws_cloudwatch_event_target.status[0].input_transformer[0].input_template : null
}
