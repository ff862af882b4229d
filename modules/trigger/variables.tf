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

variable "status_notifications_enabled" {
  description = "Create the execution-status rule: it notifies sns_topic_arn when an execution of the state machine ends ABORTED, TIMED_OUT or FAILED (known at plan time, unlike a created topic's ARN)."
  type        = bool
  default     = false
}

variable "status_rule_name" {
  description = "Name of the execution-status rule."
  type        = string
  default     = null
}

variable "watched_state_machine_arn" {
  description = "ARN of the state machine whose execution status changes are watched (computed from its name, known at plan time)."
  type        = string
  default     = null
}

variable "sns_topic_arn" {
  description = "Topic the execution-status rule publishes to (its policy must allow events.amazonaws.com to publish)."
  type        = string
  default     = null
}

variable "mapping_uuid" {
  description = "UUID of the protected event source mapping (named in the execution-status message)."
  type        = string
  default     = null
}

variable "partition" {
  description = "AWS partition."
  type        = string
}

variable "region" {
  description = "AWS region."
  type        = string
}

variable "account_id" {
  description = "AWS account id."
  type        = string
}

variable "delivery_dlq_name" {
  description = "Name of the SQS queue that receives the events EventBridge could not deliver."
  type        = string
}

variable "delivery_alarm_name" {
  description = "Name of the alarm on that queue (it notifies sns_topic_arn)."
  type        = string
}

variable "delivery_max_event_age_seconds" {
  description = "How long EventBridge keeps retrying a delivery (60-86400)."
  type        = number
  default     = 3600
}

variable "delivery_max_retry_attempts" {
  description = "How many times EventBridge retries a delivery (0-185)."
  type        = number
  default     = 185
}

variable "cleanup_enabled" {
  description = "Start cleanup_state_machine_arn when an execution ends ABORTED, TIMED_OUT or FAILED (known at plan time)."
  type        = bool
  default     = false
}

variable "cleanup_state_machine_arn" {
  description = "ARN of the cleanup state machine (turns the rejitter off), or null."
  type        = string
  default     = null
}

variable "rule_enabled" {
  description = "false disables the alarm -> state machine rule (the breaker is paused)."
  type        = bool
  default     = true
}

variable "notification_format" {
  description = "text or json: the format of the execution-status notifications."
  type        = string
  default     = "text"
}

variable "role_path" {
  description = "Path of the IAM role(s)."
  type        = string
  default     = "/"
}

variable "role_permissions_boundary" {
  description = "ARN of the permissions boundary of the IAM role(s), or null."
  type        = string
  default     = null
}

variable "state_machine_kms_key_arn" {
  description = "Customer-managed key of the state machines, or null: StartExecution encrypts the execution's input with it."
  type        = string
  default     = null
}
