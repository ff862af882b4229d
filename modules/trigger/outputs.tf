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
  value       = var.status_notifications_enabled ? aws_cloudwatch_event_target.status[0].input_transformer[0].input_template : null
}

output "delivery_dlq_arn" {
  description = "ARN of the queue that receives the events EventBridge could not deliver."
  value       = aws_sqs_queue.delivery_dlq.arn
}

output "delivery_dlq_url" {
  description = "URL of that queue."
  value       = aws_sqs_queue.delivery_dlq.id
}

output "delivery_alarm_name" {
  description = "Name of the alarm on that queue."
  value       = aws_cloudwatch_metric_alarm.delivery_failed.alarm_name
}

output "retry_policy" {
  description = "Retry policy of the alarm -> state machine target."
  value       = one(aws_cloudwatch_event_target.this.retry_policy)
}

output "dead_letter_arn" {
  description = "Dead-letter queue of the alarm -> state machine target."
  value       = one(aws_cloudwatch_event_target.this.dead_letter_config).arn
}

output "delivery_alarm_actions" {
  description = "Actions of the delivery-failed alarm."
  value       = tolist(aws_cloudwatch_metric_alarm.delivery_failed.alarm_actions)
}

output "cleanup_target_arn" {
  description = "State machine the execution-status rule starts to turn the rejitter off (empty without the rejitter)."
  value       = var.cleanup_enabled ? aws_cloudwatch_event_target.cleanup[0].arn : ""
}

output "rule_state" {
  description = "State of the alarm -> state machine rule (ENABLED, or DISABLED while the breaker is paused)."
  value       = aws_cloudwatch_event_rule.this.state
}

output "assume_role_policy_json" {
  description = "The rule role's trust policy (JSON)."
  value       = data.aws_iam_policy_document.assume.json
}

output "role_path" {
  description = "Path of the rule role."
  value       = aws_iam_role.this.path
}

output "role_permissions_boundary" {
  description = "Permissions boundary of the rule role, or null."
  value       = aws_iam_role.this.permissions_boundary
}
