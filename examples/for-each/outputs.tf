output "state_machine_arns" {
  description = "ARN of each circuit's state machine, by circuit."
  value       = { for name, circuit in module.circuit_breaker : name => circuit.state_machine_arn }
}

output "alarm_names" {
  description = "Name of each circuit's error-rate alarm, by circuit."
  value       = { for name, circuit in module.circuit_breaker : name => circuit.alarm_name }
}

output "sns_topic_arn" {
  description = "The topic every circuit notifies: subscribe to it."
  value       = aws_sns_topic.circuits.arn
}
