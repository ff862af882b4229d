output "work_queue_url" {
  description = "URL of the protected queue: send messages here."
  value       = aws_sqs_queue.work.url
}

output "dlq_url" {
  description = "URL of the dead-letter queue (maxReceiveCount 15)."
  value       = aws_sqs_queue.dlq.url
}

output "processed_queue_url" {
  description = "URL of the queue where the function records processed messages (null unless record_processed)."
  value       = var.record_processed ? aws_sqs_queue.processed[0].url : null
}

output "notifications_queue_url" {
  description = "URL of the queue subscribed to the circuit's notifications."
  value       = aws_sqs_queue.notifications.url
}

output "function_name" {
  description = "Name of the protected function."
  value       = aws_lambda_function.protected.function_name
}

output "event_source_mapping_uuid" {
  description = "UUID of the protected function's event source mapping (the circuit)."
  value       = aws_lambda_event_source_mapping.work.uuid
}

output "state_machine_arn" {
  description = "ARN of the circuit breaker's state machine."
  value       = module.circuit_breaker.state_machine_arn
}

output "alarm_name" {
  description = "Name of the error-rate alarm that opens the circuit (the module's, or the fast one)."
  value       = module.circuit_breaker.alarm_name
}

output "alarm_metric_namespace" {
  description = "Namespace of the function's own high-resolution metrics (Invocations, Errors; dimension FunctionName), or null without fast_alarm_period_seconds."
  value       = local.fast_alarm ? local.metric_namespace : null
}

output "rejitter_event_source_mapping_uuid" {
  description = "UUID of the rejitter's event source mapping (null without the rejitter)."
  value       = module.circuit_breaker.rejitter_event_source_mapping_uuid
}

output "breaker_alarm_names" {
  description = "Names of the alarms on the breaker itself."
  value       = module.circuit_breaker.breaker_alarm_names
}

output "dashboard_name" {
  description = "Name of the circuit's dashboard."
  value       = module.circuit_breaker.dashboard_name
}

output "control_parameter_name" {
  description = "SSM parameter of the operator control marker."
  value       = module.circuit_breaker.control_parameter_name
}

output "lease_table_name" {
  description = "DynamoDB table of the episode lease (which execution owns the circuit)."
  value       = module.circuit_breaker.lease_table_name
}

output "event_rule_name" {
  description = "Name of the alarm -> state machine EventBridge rule."
  value       = module.circuit_breaker.event_rule_name
}
