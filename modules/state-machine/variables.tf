variable "circuit_name" {
  description = "Name of the circuit ([A-Za-z0-9_-]; used in notifications and the metric dimension)."
  type        = string
}

variable "state_machine_name" {
  description = "Name of the state machine (also names its log group)."
  type        = string
}

variable "lease_table_name" {
  description = "Name of the DynamoDB table that holds the circuit's episode lease (single flight)."
  type        = string
}

variable "role_name" {
  description = "Name of the state machine's IAM role."
  type        = string
}

variable "cleanup_role_name" {
  description = "Name of the cleanup state machine's IAM role (with the rejitter)."
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

variable "mapping_uuid" {
  description = "UUID of the protected event source mapping."
  type        = string
}

variable "queue_url" {
  description = "URL of the protected queue."
  type        = string
}

variable "queue_arn" {
  description = "ARN of the protected queue."
  type        = string
}

variable "target_function_arn" {
  description = "Unqualified ARN of the protected function. The probe invokes the mapping's own FunctionArn (read when the circuit opens); the episode refuses to open when that is not this function or one of its versions or aliases."
  type        = string
}

variable "probe_function_arn" {
  description = "ARN of the probe function."
  type        = string
}

variable "probe_mode" {
  description = "Probe mode: message or synthetic."
  type        = string
}

variable "synthetic_body" {
  description = "Synthetic message body, or null."
  type        = string
  default     = null
}

variable "probe_wait_time_seconds" {
  description = "Long-poll wait of the probe's ReceiveMessage."
  type        = number
}

variable "slow_call_duration_threshold_ms" {
  description = "A probe whose invoke takes longer than this many milliseconds is unhealthy; null: not judged by its duration."
  type        = number
  default     = null
}

variable "probe_timeout_seconds" {
  description = "Timeout of the probe function (each probe counts this much against the retention budget)."
  type        = number
}

variable "open_wait_seconds" {
  description = "Minimum wait between opening and the first probe (the queue's visibility timeout is waited if longer)."
  type        = number
}

variable "backoff_initial_seconds" {
  description = "First backoff wait."
  type        = number
}

variable "backoff_rate" {
  description = "Backoff multiplier."
  type        = number
}

variable "backoff_max_seconds" {
  description = "Cap of a single backoff wait."
  type        = number
}

variable "backoff_jitter" {
  description = "Use equal jitter on the backoff waits."
  type        = bool
}

variable "max_attempts" {
  description = "Unhealthy probes before giving up."
  type        = number
}

variable "failure_visibility_margin_seconds" {
  description = "Added to the next backoff wait to hide a message that failed a probe."
  type        = number
}

variable "retention_margin_seconds" {
  description = "Safety margin below the queue's retention period."
  type        = number
}

variable "give_up_action" {
  description = "stay_open or close."
  type        = string
}

variable "half_open_max_concurrency" {
  description = "MaximumConcurrency during the half-open ramp, or null for no ramp."
  type        = number
  default     = null
}

variable "half_open_seconds" {
  description = "Duration of the half-open ramp."
  type        = number
}

variable "rejitter_enabled" {
  description = "Run the rejitter before closing (known at plan time, unlike the mapping's UUID)."
  type        = bool
  default     = false
}

variable "rejitter_mapping_uuid" {
  description = "UUID of the rejitter's event source mapping (required when rejitter_enabled)."
  type        = string
  default     = null
}

variable "rejitter_window_seconds" {
  description = "How long the rejitter mapping stays enabled."
  type        = number
}

variable "retry_interval_seconds" {
  description = "First interval of every Retry of the breaker's own calls (then doubling, with full jitter)."
  type        = number
  default     = 2
}

variable "retry_max_delay_seconds" {
  description = "Cap on the interval between two retries of the breaker's own calls."
  type        = number
  default     = 60
}

variable "notifications_enabled" {
  description = "Publish notifications to sns_topic_arn (known at plan time, unlike a created topic's ARN)."
  type        = bool
  default     = false
}

variable "sns_topic_arn" {
  description = "Topic for notifications, or null."
  type        = string
  default     = null
}

variable "sns_kms_key_arn" {
  description = "KMS key of the topic, or null."
  type        = string
  default     = null
}

variable "metric_namespace" {
  description = "Namespace of the CircuitState metric."
  type        = string
}

variable "alarm_name" {
  description = "Name of the alarm reset to OK on close."
  type        = string
}

variable "watch_seconds" {
  description = "How long the execution watches the alarm after a healthy close before it looks at its state (the alarm's window, one evaluation and the metric delay)."
  type        = number
}

variable "alarm_period_seconds" {
  description = "Period of the alarm (the watch after a close looks at it once per period)."
  type        = number
}

variable "alarm_arn" {
  description = "ARN of that alarm."
  type        = string
}

variable "alarm_is_metric" {
  description = "Whether the alarm is known, at plan time, to be a metric alarm (the module created it): the failure path then re-arms it without reading it first. false (the default, for an alarm brought by the caller, which may be composite) reads its type at run time: SetAlarmState on a composite alarm would hold it until a child changes."
  type        = bool
  default     = false
  nullable    = false
}

variable "sdk_timeout_seconds" {
  description = "TimeoutSeconds of each AWS SDK task."
  type        = number
  default     = 60
}

variable "log_retention_days" {
  description = "Retention of the execution log group."
  type        = number
}

variable "log_level" {
  description = "ALL, ERROR, FATAL or OFF."
  type        = string
}

variable "log_include_execution_data" {
  description = "Log input/output data of states."
  type        = bool
}

variable "log_kms_key_arn" {
  description = "KMS key ARN of the log group, or null."
  type        = string
  default     = null
}

variable "tracing_enabled" {
  description = "Enable X-Ray tracing."
  type        = bool
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

variable "parameter_path" {
  description = "SSM parameter path of the circuit (no trailing slash), e.g. /sqs-circuit-breaker/orders: the control marker and the settings record live under it."
  type        = string
}

variable "notification_format" {
  description = "text (readable messages) or json (one object per message, for machines)."
  type        = string
  default     = "text"
}

variable "transition_event_bus_arn" {
  description = "ARN of the EventBridge event bus that receives a Circuit State Change event at every transition of the circuit, or null (no events)."
  type        = string
  default     = null
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

variable "kms_key_arn" {
  description = "Customer-managed KMS key encrypting both state machines, or null (AWS-owned key)."
  type        = string
  default     = null
}

variable "kms_data_key_reuse_period_seconds" {
  description = "Data key reuse period with kms_key_arn (60-900 s)."
  type        = number
  default     = 300
}
