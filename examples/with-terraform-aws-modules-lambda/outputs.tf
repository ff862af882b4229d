output "function_name" {
  description = "Name of the function made by terraform-aws-modules/lambda."
  value       = module.lambda.lambda_function_name
}

output "event_source_mapping_uuid" {
  description = "UUID of the mapping made outside that module (the circuit)."
  value       = aws_lambda_event_source_mapping.work.uuid
}

output "state_machine_arn" {
  description = "ARN of the circuit breaker's state machine."
  value       = module.circuit_breaker.state_machine_arn
}

output "sns_topic_arn" {
  description = "Topic of the circuit's notifications: subscribe to it."
  value       = module.circuit_breaker.sns_topic_arn
}
