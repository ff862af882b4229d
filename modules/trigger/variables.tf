variable "circuit_name" {
  description = "Name of the circuit (used in descriptions)."
  type        = string
}

variable "rule_name" {
  description = "Name of the EventBridge rule."
  type        = string
}

variable "role_name" {
  description = "Name of the IAM role EventBridge assumes to start the state machine."
  type        = string
}

variable "alarm_arn" {
  description = "ARN of the alarm whose ALARM state starts the state machine."
  type        = string
}

variable "state_machine_arn" {
  description = "ARN of the state machine to start."
  type        = string
}

variable "tags" {
  description = "Tags for the rule and the role."
  type        = map(string)
  default     = {}
}
