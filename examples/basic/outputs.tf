output "state_machine_arn" {
  description = "ARN of the circuit breaker's state machine."
  value       = module.circuit_breaker.state_machine_arn
}

output "alarm_name" {
  description = "Name of the error-rate alarm that opens the circuit."
  value       = module.circuit_breaker.alarm_name
}

output "sns_topic_arn" {
  description = "Topic of the circuit's notifications (open, close, give-up, errors): subscribe to it."
  value       = module.circuit_breaker.sns_topic_arn
}
