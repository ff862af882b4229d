variable "name" {
  description = "Name prefix of every resource of this example (and the circuit's name)."
  type        = string
  default     = "cb-own-alarm"
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

variable "alarm_period_seconds" {
  description = "Period of your alarm: 10, 30 or a multiple of 60 (the metric is high-resolution)."
  type        = number
  default     = 10
}

variable "alarm_evaluation_periods" {
  description = "Evaluation periods of your alarm (1 breaching datapoint trips it)."
  type        = number
  default     = 2
}

variable "alarm_errors_threshold" {
  description = "Errors in one period that trip your alarm."
  type        = number
  default     = 3
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
