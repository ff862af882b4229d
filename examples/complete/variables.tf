# Defaults are for AWS (minutes). The demo and the end-to-end tests pass seconds instead.

# ---- Stack ------------------------------------------------------------------------------------
variable "name" {
  description = "Name prefix of every resource of this example (and the circuit's name)."
  type        = string
  default     = "cb-complete"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,30}$", var.name))
    error_message = "name must be 1-30 characters of A-Z, a-z, 0-9, '-' and '_'."
  }
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

# ---- The protected workload -------------------------------------------------------------------
variable "should_error" {
  description = "Make the protected function fail every invocation (the downstream service is down)."
  type        = bool
  default     = false
}

variable "record_processed" {
  description = "Record every processed message in a '<name>-processed' queue (demo and tests count by id)."
  type        = bool
  default     = false
}

variable "function_timeout_seconds" {
  description = "Timeout of the protected function."
  type        = number
  default     = 10
}

variable "queue_visibility_timeout_seconds" {
  description = "Visibility timeout of the work queue (AWS advises >= 6x the function timeout)."
  type        = number
  default     = 60
}

variable "queue_retention_seconds" {
  description = "Message retention period of the work queue."
  type        = number
  default     = 345600
}

variable "fast_alarm_period_seconds" {
  description = "null: the module's error-rate alarm (AWS/Lambda metrics, periods of 60 s or more). 10 or 30: the function publishes high-resolution metrics and an alarm with this period on them is passed to the module as existing_alarm (the demo and the tests use it)."
  type        = number
  default     = null

  validation {
    condition     = var.fast_alarm_period_seconds == null || contains([10, 30], coalesce(var.fast_alarm_period_seconds, 10))
    error_message = "fast_alarm_period_seconds must be null, 10 or 30."
  }
}

# ---- The circuit breaker (passed through to the module) ---------------------------------------
variable "alarm_watch_seconds" {
  description = "How long the circuit breaker watches the alarm after a close (null: derived from the alarm)."
  type        = number
  default     = null
}

variable "rejitter_timeout_seconds" {
  description = "Timeout of the rejitter function (at most the work queue's visibility timeout)."
  type        = number
  default     = 20
}

variable "alarm_threshold_percent" {
  description = "Error rate (%) that opens the circuit."
  type        = number
  default     = 50
}

variable "alarm_min_invocations" {
  description = "Invocations a period needs before its error rate counts."
  type        = number
  default     = 5
}

variable "alarm_period_seconds" {
  description = "Period of the module's alarm (a multiple of 60; see fast_alarm_period_seconds for a faster one)."
  type        = number
  default     = 60
}

variable "alarm_datapoints_to_alarm" {
  description = "Breaching periods, out of alarm_evaluation_periods, that trip the alarm (null: all)."
  type        = number
  default     = null
}

variable "alarm_evaluation_periods" {
  description = "Alarm evaluation periods."
  type        = number
  default     = 1
}

variable "open_wait_seconds" {
  description = "Wait between opening and the first probe."
  type        = number
  default     = 60
}

variable "backoff_initial_seconds" {
  description = "First backoff wait after an unhealthy probe."
  type        = number
  default     = 60
}

variable "backoff_rate" {
  description = "Backoff multiplier."
  type        = number
  default     = 2
}

variable "backoff_max_seconds" {
  description = "Cap of one backoff wait."
  type        = number
  default     = 900
}

variable "breaker_retry_interval_seconds" {
  description = "First interval of the breaker's retries of its own calls (seconds-scale fault tests lower it)."
  type        = number
  default     = 2
}

variable "breaker_retry_max_delay_seconds" {
  description = "Cap on the interval between two retries of the breaker's own calls."
  type        = number
  default     = 60
}

variable "probe_max_attempts" {
  description = "Unhealthy probes before giving up."
  type        = number
  default     = 10
}

variable "probe_synthetic_body" {
  description = "Synthetic message body probed when the queue is empty (null: an empty queue closes)."
  type        = string
  default     = null
}

variable "probe_failure_visibility_margin_seconds" {
  description = "Extra hiding of a message that failed a probe, beyond the next backoff wait."
  type        = number
  default     = 30
}

variable "retention_margin_seconds" {
  description = "Give up (and close) this long before the backlog could outlive the queue's retention."
  type        = number
  default     = 3600
}

variable "give_up_action" {
  description = "\"stay_open\" or \"close\" after probe_max_attempts unhealthy probes."
  type        = string
  default     = "stay_open"
}

variable "transition_event_bus" {
  description = "Event bus (name or ARN) for the circuit's transition events (\"default\": the account's default bus), or null for none."
  type        = string
  default     = null
}

variable "half_open_max_concurrency" {
  description = "Half-open ramp concurrency (2-1000), null for no ramp."
  type        = number
  default     = 2
}

variable "half_open_seconds" {
  description = "Duration of the half-open ramp."
  type        = number
  default     = 300
}

variable "rejitter_enabled" {
  description = "Rejitter the backlog before closing."
  type        = bool
  default     = true
}

variable "rejitter_window_seconds" {
  description = "How long the rejitter runs."
  type        = number
  default     = 120
}

variable "rejitter_min_delay_seconds" {
  description = "Smallest delay the rejitter gives a message (0-900)."
  type        = number
  default     = 0
}

variable "rejitter_max_delay_seconds" {
  description = "Largest delay the rejitter gives a message (0-900)."
  type        = number
  default     = 300
}

variable "create_dashboard" {
  description = "Create the circuit's CloudWatch dashboard."
  type        = bool
  default     = true
}

variable "open_alarm_after_seconds" {
  description = "The breaker's open-too-long alarm fires after the circuit has been open this long."
  type        = number
  default     = 3600
}
