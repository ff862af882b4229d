variable "alarm_name" {
  description = "Name of the CloudWatch alarm."
  type        = string
}

variable "circuit_name" {
  description = "Name of the circuit (used in the description)."
  type        = string
}

variable "function_name" {
  description = "Name of the protected Lambda function (the FunctionName dimension)."
  type        = string
}

variable "failure_signal" {
  description = "What counts as a failure: function_errors (Errors / Invocations of the function) or mapping_events (the worse of that and FailedInvokeEventCount / InvokedEventCount of the mapping)."
  type        = string
  default     = "function_errors"

  validation {
    condition     = contains(["function_errors", "mapping_events"], var.failure_signal)
    error_message = "failure_signal must be \"function_errors\" or \"mapping_events\"."
  }
}

variable "event_source_mapping_uuid" {
  description = "UUID of the event source mapping (the EventSourceMappingUUID dimension of its event count metrics); used with failure_signal = mapping_events."
  type        = string
  default     = null
}

variable "slow_call_duration_threshold_ms" {
  description = "A call slower than this (Duration, in milliseconds) is slow; null: slow calls are not judged."
  type        = number
  default     = null
}

variable "slow_call_rate_threshold_percent" {
  description = "Share of slow calls, in percent, at or above which a period breaches; null: threshold_percent."
  type        = number
  default     = null
}

variable "threshold_percent" {
  description = "Error rate, in percent, at or above which a period breaches."
  type        = number
}

variable "min_invocations" {
  description = "Periods with fewer invocations than this never breach."
  type        = number
}

variable "period_seconds" {
  description = "Metric period in seconds (10, 30 or a multiple of 60)."
  type        = number
}

variable "evaluation_periods" {
  description = "Number of periods evaluated."
  type        = number
}

variable "datapoints_to_alarm" {
  description = "Breaching periods (out of evaluation_periods) that trip the alarm."
  type        = number
}

variable "tags" {
  description = "Tags for the alarm."
  type        = map(string)
  default     = {}
}
