output "work_queue_url" {
  description = "URL of the protected queue: send messages here."
  value       = aws_sqs_queue.work.url
}

output "dlq_url" {
  description = "URL of the dead-letter queue."
  value       = aws_sqs_queue.dlq.url
}

output "processed_queue_url" {
  description = "URL of the queue where the function records processed messages (null unless record_processed)."
  value       = var.record_processed ? aws_sqs_queue.processed[0].url : null
}

output "function_name" {
  description = "Name of the protected function."
  value       = aws_lambda_function.protected.function_name
}

output "event_source_mapping_uuid" {
  description = "UUID of the protected function's event source mapping (the circuit)."
  value       = aws_lambda_event_source_mapping.work.uuid
}

output "alarm_name" {
  description = "Name of the module's alarm (error rate, failed events of the mapping, slow calls)."
  value       = module.circuit_breaker.alarm_name
}

output "state_machine_arn" {
  description = "ARN of the circuit breaker's state machine."
  value       = module.circuit_breaker.state_machine_arn
}
