variable "circuit_name" {
  description = "Name of the circuit (metric dimension Circuit, names)."
  type        = string
}

variable "region" {
  description = "Region of the dashboard's widgets."
  type        = string
}

variable "metric_namespace" {
  description = "Namespace of the breaker's CircuitState and OpenSeconds metrics."
  type        = string
}

variable "state_machine_arn" {
  description = "ARN of the circuit's state machine (AWS/States dimension StateMachineArn)."
  type        = string
}

variable "function_name" {
  description = "Name of the protected function (AWS/Lambda dimension FunctionName)."
  type        = string
}

variable "probe_function" {
  description = "Name of the probe function."
  type        = string
}

variable "queue_name" {
  description = "Name of the queue (AWS/SQS dimension QueueName)."
  type        = string
}

variable "dlq_name" {
  description = "Name of the queue's dead-letter queue, or null."
  type        = string
  default     = null
}

variable "alarm_arn" {
  description = "ARN of the alarm that opens the circuit (drawn on the dashboard)."
  type        = string
}

variable "alarm_threshold" {
  description = "Error-rate threshold (percent) of the module's alarm, drawn next to the error rate; null with an existing alarm."
  type        = number
  default     = null
}

variable "event_source_mapping_uuid" {
  description = "UUID of the mapping whose failed events the module's alarm judges (alarm_failure_signal = mapping_events), drawn next to the error rate; null otherwise."
  type        = string
  default     = null
}

variable "slow_call_duration_threshold_ms" {
  description = "The slow-call threshold the module's alarm judges, in milliseconds: the share of slower calls is drawn next to the error rate; null otherwise."
  type        = number
  default     = null
}

variable "rule_name" {
  description = "Name of the alarm -> state machine rule (AWS/Events dimension RuleName)."
  type        = string
}

variable "delivery_dlq_name" {
  description = "Name of the rule's delivery DLQ."
  type        = string
}

variable "alarm_name_prefix" {
  description = "Prefix of the breaker alarms' names."
  type        = string
}

variable "alarm_actions" {
  description = "Actions of the breaker alarms (the notification topic)."
  type        = list(string)
  default     = []
}

variable "alarms_enabled" {
  description = "Which breaker alarms to create."
  type = object({
    execution_failed = bool
    open_too_long    = bool
    trigger_failed   = bool
  })
}

variable "open_alarm_seconds" {
  description = "The open_too_long alarm's threshold (seconds open)."
  type        = number
}

variable "create_dashboard" {
  description = "Create the dashboard."
  type        = bool
  default     = false
}

variable "dashboard_name" {
  description = "Name of the dashboard."
  type        = string
}

variable "tags" {
  description = "Tags of the alarms (dashboards take no tags)."
  type        = map(string)
  default     = {}
}
