variable "name" {
  description = "Name prefix of every resource of this example (and the circuit's name)."
  type        = string
  default     = "cb-detection"
}

variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "us-east-1"
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

variable "function_timeout_seconds" {
  description = "Timeout of the protected function."
  type        = number
  default     = 10
}

variable "queue_visibility_timeout_seconds" {
  description = "Visibility timeout of the work queue (at least the function's timeout)."
  type        = number
  default     = 60
}

variable "batch_size" {
  description = "Batch size of the event source mapping."
  type        = number
  default     = 10
}

variable "slow_call_duration_threshold_ms" {
  description = "A call of the function slower than this (milliseconds) is slow."
  type        = number
  default     = 2000
}

variable "slow_call_rate_threshold_percent" {
  description = "Share of slow calls, in percent, at or above which a period breaches (null: the failure threshold, 50 %)."
  type        = number
  default     = null
}

variable "alarm_evaluation_periods" {
  description = "Evaluation periods (of 60 s) of the module's alarm."
  type        = number
  default     = 2
}

variable "alarm_min_invocations" {
  description = "Invocations (or events of the mapping) a period needs before its rates count."
  type        = number
  default     = 5
}

variable "alarm_watch_seconds" {
  description = "How long the circuit watches its alarm after a close (null: the module's default, derived from the alarm's window)."
  type        = number
  default     = null
}

variable "open_wait_seconds" {
  description = "Wait between opening the circuit and the first probe."
  type        = number
  default     = 60
}

variable "backoff_initial_seconds" {
  description = "Wait after the first unhealthy probe."
  type        = number
  default     = 60
}

variable "backoff_max_seconds" {
  description = "Cap of one backoff wait."
  type        = number
  default     = 900
}

variable "record_processed" {
  description = "Record every processed message in a '<name>-processed' queue (the end-to-end test counts by id)."
  type        = bool
  default     = false
}
