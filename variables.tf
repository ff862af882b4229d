# ---- Required: the circuit and what it protects ------------------------------------------------
variable "name" {
  description = "Name of the circuit: 1-40 characters [A-Za-z0-9_-], unique per account (IAM role names are global: include the region for multi-region stacks). Prefixes every resource."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,40}$", var.name))
    error_message = "name must be 1-40 characters of A-Z, a-z, 0-9, '-' and '_'."
  }
}

variable "function_name" {
  description = "The protected Lambda function: its name, or its (optionally qualified) ARN in this account and region."
  type        = string

  validation {
    condition = can(regex("^[A-Za-z0-9_-]{1,64}$", var.function_name)) || can(regex(
      "^arn:[a-z-]+:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]{1,128})?$", var.function_name
    ))
    error_message = "function_name must be a Lambda function name ([A-Za-z0-9_-], 1-64 characters) or a Lambda function ARN."
  }
}

variable "event_source_mapping_uuid" {
  description = "UUID of the protected function's SQS event source mapping (the one the circuit disables). Its aws_lambda_event_source_mapping must have lifecycle { ignore_changes = [enabled] }."
  type        = string

  validation {
    condition     = can(regex("^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$", var.event_source_mapping_uuid))
    error_message = "event_source_mapping_uuid must be a UUID (8-4-4-4-12 hexadecimal digits)."
  }
}

variable "queue_arn" {
  description = "ARN of the SQS queue the mapping reads."
  type        = string

  validation {
    condition     = can(regex("^arn:[a-z-]+:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}(\\.fifo)?$", var.queue_arn))
    error_message = "queue_arn must be an SQS queue ARN (arn:<partition>:sqs:<region>:<account>:<queue name>)."
  }
}

variable "queue_url" {
  description = "URL of that SQS queue."
  type        = string

  validation {
    condition     = can(regex("^https?://[^ ]+/[0-9]{12}/[A-Za-z0-9_-]{1,80}(\\.fifo)?$", var.queue_url))
    error_message = "queue_url must be an SQS queue URL (http(s)://<host>/<account>/<queue name>)."
  }
}

variable "queue_kms_key_arn" {
  description = "ARN of the KMS key encrypting the queue (SSE-KMS), or null: a key ARN (arn:...:key/<id>), not an alias (a grant on an alias ARN does not authorize the key). Grants the probe kms:Decrypt and the rejitter kms:Decrypt/GenerateDataKey on it."
  type        = string
  default     = null

  validation {
    condition     = var.queue_kms_key_arn == null || can(regex("^arn:[a-z-]+:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.queue_kms_key_arn))
    error_message = "queue_kms_key_arn must be a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<key id>), not an alias, or null."
  }
}

variable "tags" {
  description = "Tags applied to every taggable resource."
  type        = map(string)
  default     = {}
}

# ---- Alarm ------------------------------------------------------------------------------------
variable "existing_alarm" {
  description = "Bring your own alarm: { arn, name, period_seconds, evaluation_periods } of an existing CloudWatch alarm (metric or composite) whose ALARM state opens the circuit. period_seconds (default 60) and evaluation_periods (default 5: set them, the default is cautious) size the watch after a close; for a composite alarm give the longest window of its children. null (default) creates the error-rate alarm."
  type = object({
    arn                = string
    name               = string
    period_seconds     = optional(number, 60)
    evaluation_periods = optional(number, 5)
  })
  default = null

  validation {
    condition     = var.existing_alarm == null ? true : can(regex("^arn:[a-z-]+:cloudwatch:[a-z0-9-]+:[0-9]{12}:alarm:.+$", var.existing_alarm.arn)) && length(var.existing_alarm.name) > 0
    error_message = "existing_alarm.arn must be a CloudWatch alarm ARN and existing_alarm.name its (non-empty) name."
  }

  validation {
    condition     = var.existing_alarm == null ? true : (var.existing_alarm.period_seconds >= 10 && var.existing_alarm.evaluation_periods >= 1 && var.existing_alarm.period_seconds * var.existing_alarm.evaluation_periods <= 86400)
    error_message = "existing_alarm.period_seconds must be >= 10 and evaluation_periods >= 1 (their product at most 86400, CloudWatch's limit)."
  }

  # The rule listens to the ARN and the state machine resets the name: they must be the same alarm.
  validation {
    condition     = var.existing_alarm == null ? true : endswith(var.existing_alarm.arn, ":alarm:${var.existing_alarm.name}")
    error_message = "existing_alarm.arn must end with \":alarm:<existing_alarm.name>\": the ARN (which opens the circuit) and the name (reset to OK on close) must designate the same alarm."
  }
}

variable "alarm_threshold_percent" {
  description = "Error rate (100 * Errors / Invocations, in percent) at or above which a period breaches."
  type        = number
  default     = 50

  validation {
    condition     = var.alarm_threshold_percent > 0 && var.alarm_threshold_percent <= 100
    error_message = "alarm_threshold_percent must be greater than 0 and at most 100."
  }
}

variable "alarm_min_invocations" {
  description = "Minimum invocations in a period for it to be able to breach (no alarm on 1 failure out of 1 call unless set to 1)."
  type        = number
  default     = 5

  validation {
    condition     = var.alarm_min_invocations >= 1 && floor(var.alarm_min_invocations) == var.alarm_min_invocations
    error_message = "alarm_min_invocations must be a whole number >= 1."
  }
}

variable "alarm_period_seconds" {
  description = "Period of the created alarm in seconds: a multiple of 60. AWS/Lambda metrics have 1-minute resolution: a 10 or 30 s period sees no data at most evaluation points (and is billed as a high-resolution alarm). For a faster alarm, bring your own on a high-resolution metric (existing_alarm)."
  type        = number
  default     = 60

  validation {
    condition     = var.alarm_period_seconds >= 60 && var.alarm_period_seconds % 60 == 0
    error_message = "alarm_period_seconds must be a multiple of 60 (AWS/Lambda metrics have 1-minute resolution: a shorter period never alarms reliably; use existing_alarm on a high-resolution metric for a faster alarm)."
  }
}

variable "alarm_evaluation_periods" {
  description = "Number of most recent periods the alarm evaluates."
  type        = number
  default     = 2

  validation {
    condition     = var.alarm_evaluation_periods >= 1 && floor(var.alarm_evaluation_periods) == var.alarm_evaluation_periods
    error_message = "alarm_evaluation_periods must be a whole number >= 1."
  }
}

variable "alarm_datapoints_to_alarm" {
  description = "Breaching periods, out of alarm_evaluation_periods, that trip the alarm. null means all of them."
  type        = number
  default     = null

  validation {
    condition     = var.alarm_datapoints_to_alarm == null ? true : var.alarm_datapoints_to_alarm >= 1 && floor(var.alarm_datapoints_to_alarm) == var.alarm_datapoints_to_alarm
    error_message = "alarm_datapoints_to_alarm must be null or a whole number >= 1 (and <= alarm_evaluation_periods)."
  }
}

variable "alarm_failure_signal" {
  description = "What the created alarm counts as a failure. \"function_errors\" (default): Errors / Invocations of the function; a function that reports failures in batchItemFailures returns normally and Lambda counts no error. \"mapping_events\": the worse of that and FailedInvokeEventCount / InvokedEventCount of the event source mapping, which counts the events of a response with a non-empty batchItemFailures; the mapping must have metrics_config { metrics = [\"EventCount\"] } (see event_source_mapping_metrics)."
  type        = string
  default     = "function_errors"

  validation {
    condition     = contains(["function_errors", "mapping_events"], var.alarm_failure_signal)
    error_message = "alarm_failure_signal must be \"function_errors\" or \"mapping_events\"."
  }
}

variable "event_source_mapping_metrics" {
  description = "The metrics your event source mapping publishes: its metrics_config's metrics, passed as flatten(aws_lambda_event_source_mapping.<name>.metrics_config[*].metrics). The module cannot read a mapping's configuration at plan time (the provider has no data source for it): with alarm_failure_signal = \"mapping_events\" the plan fails unless this holds \"EventCount\". null: not given."
  type        = set(string)
  default     = null
}

variable "slow_call_duration_threshold_ms" {
  description = "Slow calls count as failures, as Resilience4j's slowCallDurationThreshold: a call of the function that runs longer than this many milliseconds (Lambda's Duration) is slow. The created alarm also judges the share of slow calls (slow_call_rate_threshold_percent), and a probe that takes longer is unhealthy (the probe's own measure, which adds the invoke's round trip and any cold start to the function's Duration). null (default): calls are not judged by their duration."
  type        = number
  default     = null

  validation {
    condition     = var.slow_call_duration_threshold_ms == null ? true : (var.slow_call_duration_threshold_ms >= 1 && var.slow_call_duration_threshold_ms <= 900000 && floor(var.slow_call_duration_threshold_ms) == var.slow_call_duration_threshold_ms)
    error_message = "slow_call_duration_threshold_ms must be null or a whole number of milliseconds from 1 to 900000 (Lambda's longest timeout)."
  }
}

variable "slow_call_rate_threshold_percent" {
  description = "Share of slow calls (100 - PR(0:slow_call_duration_threshold_ms) of Duration, in percent) at or above which a period breaches, as Resilience4j's slowCallRateThreshold; the same volume floor (alarm_min_invocations) applies. null (default): alarm_threshold_percent."
  type        = number
  default     = null

  validation {
    condition     = var.slow_call_rate_threshold_percent == null ? true : (var.slow_call_rate_threshold_percent > 0 && var.slow_call_rate_threshold_percent <= 100)
    error_message = "slow_call_rate_threshold_percent must be null or greater than 0 and at most 100."
  }
}

# ---- Probing and backoff ----------------------------------------------------------------------
variable "open_wait_seconds" {
  description = "Wait between opening the circuit and the first probe. The queue's visibility timeout is waited instead when it is longer (messages of the failed batches are invisible until then)."
  type        = number
  default     = 60

  validation {
    condition     = var.open_wait_seconds >= 0 && var.open_wait_seconds <= 86400 && floor(var.open_wait_seconds) == var.open_wait_seconds
    error_message = "open_wait_seconds must be a whole number of seconds from 0 to 86400."
  }
}

variable "backoff_initial_seconds" {
  description = "Wait after the first unhealthy probe."
  type        = number
  default     = 60

  validation {
    condition     = var.backoff_initial_seconds >= 1 && var.backoff_initial_seconds <= 86400 && floor(var.backoff_initial_seconds) == var.backoff_initial_seconds
    error_message = "backoff_initial_seconds must be a whole number of seconds from 1 to 86400."
  }
}

variable "backoff_rate" {
  description = "Multiplier of the wait after each further unhealthy probe (>= 1)."
  type        = number
  default     = 2

  validation {
    condition     = var.backoff_rate >= 1 && var.backoff_rate <= 10
    error_message = "backoff_rate must be from 1 to 10."
  }
}

variable "backoff_max_seconds" {
  description = "Cap of a single backoff wait (>= backoff_initial_seconds; on standard queues, backoff_max_seconds + probe_failure_visibility_margin_seconds <= 43200, SQS's maximum visibility timeout). With give_up_action = stay_open, the interval of the probes after the give-up."
  type        = number
  default     = 900

  validation {
    condition     = var.backoff_max_seconds >= 1 && var.backoff_max_seconds <= 86400 && floor(var.backoff_max_seconds) == var.backoff_max_seconds
    error_message = "backoff_max_seconds must be a whole number of seconds from 1 to 86400."
  }
}

variable "backoff_jitter" {
  description = "Randomize each backoff wait between half of it and all of it (equal jitter), so that many circuits do not probe in lockstep."
  type        = bool
  default     = true
}

variable "breaker_retry_interval_seconds" {
  description = "The breaker's own AWS calls (disable or enable the mapping, read the alarm, the lease, invoke the probe, notify) are retried on throttling and transient errors: this is the first interval, doubled on each attempt with full jitter (6 attempts for transient errors, 2 for any other failure, then the failure path). Lower it only to play faults in seconds (make test-faults)."
  type        = number
  default     = 2

  validation {
    condition     = var.breaker_retry_interval_seconds >= 1 && var.breaker_retry_interval_seconds <= 60 && floor(var.breaker_retry_interval_seconds) == var.breaker_retry_interval_seconds
    error_message = "breaker_retry_interval_seconds must be a whole number of seconds from 1 to 60."
  }
}

variable "breaker_retry_max_delay_seconds" {
  description = "Cap on the interval between two retries of the breaker's own calls (>= breaker_retry_interval_seconds for the cap to matter; Step Functions' MaxDelaySeconds)."
  type        = number
  default     = 60

  validation {
    condition     = var.breaker_retry_max_delay_seconds >= 1 && var.breaker_retry_max_delay_seconds <= 3600 && floor(var.breaker_retry_max_delay_seconds) == var.breaker_retry_max_delay_seconds
    error_message = "breaker_retry_max_delay_seconds must be a whole number of seconds from 1 to 3600."
  }
}

variable "probe_max_attempts" {
  description = "Unhealthy probes before giving up (see give_up_action)."
  type        = number
  default     = 10

  validation {
    condition     = var.probe_max_attempts >= 1 && var.probe_max_attempts <= 100 && floor(var.probe_max_attempts) == var.probe_max_attempts
    error_message = "probe_max_attempts must be a whole number from 1 to 100."
  }
}

variable "probe_mode" {
  description = "\"message\": replay a real message from the queue (the synthetic body, if any, only when the queue is empty); \"synthetic\": always send probe_synthetic_body."
  type        = string
  default     = "message"

  validation {
    condition     = contains(["message", "synthetic"], var.probe_mode)
    error_message = "probe_mode must be \"message\" or \"synthetic\"."
  }
}

variable "probe_synthetic_body" {
  description = "Body of a synthetic SQS message the probe sends to the function when the queue is empty (required when probe_mode = \"synthetic\"). null: an empty queue closes the circuit."
  type        = string
  default     = null
}

variable "probe_wait_time_seconds" {
  description = "Long-poll wait (0-20 s) of the probe's ReceiveMessage."
  type        = number
  default     = 2

  validation {
    condition     = var.probe_wait_time_seconds >= 0 && var.probe_wait_time_seconds <= 20 && floor(var.probe_wait_time_seconds) == var.probe_wait_time_seconds
    error_message = "probe_wait_time_seconds must be a whole number from 0 to 20."
  }
}

variable "probe_failure_visibility_margin_seconds" {
  description = "A message that failed a probe is hidden for the next backoff wait plus this margin, so that the next probe takes another message (a poison message cannot keep a healthy function's circuit open). Not on FIFO queues: there the failed message stays visible (hiding it would block its message group) and the next probe retries it."
  type        = number
  default     = 30

  validation {
    condition     = var.probe_failure_visibility_margin_seconds >= 0 && var.probe_failure_visibility_margin_seconds <= 3600 && floor(var.probe_failure_visibility_margin_seconds) == var.probe_failure_visibility_margin_seconds
    error_message = "probe_failure_visibility_margin_seconds must be a whole number from 0 to 3600."
  }
}

variable "probe_timeout_seconds" {
  description = "Timeout of the probe function. It invokes the protected function synchronously and waits for it until its own time is nearly up (a function that has not answered by then is unhealthy), so it must be at least the function's timeout + probe_wait_time_seconds + 10 s: the plan reads the function's timeout and refuses less. Each probe counts this much against the retention budget."
  type        = number
  default     = 120

  validation {
    condition     = var.probe_timeout_seconds >= 3 && var.probe_timeout_seconds <= 900 && floor(var.probe_timeout_seconds) == var.probe_timeout_seconds
    error_message = "probe_timeout_seconds must be a whole number from 3 to 900."
  }
}

variable "retention_margin_seconds" {
  description = "The episode gives up (and closes) before its waits and probes could exceed the queue's retention period minus this margin, so that the backlog never expires."
  type        = number
  default     = 3600

  validation {
    condition     = var.retention_margin_seconds >= 0 && floor(var.retention_margin_seconds) == var.retention_margin_seconds
    error_message = "retention_margin_seconds must be a whole number >= 0."
  }
}

variable "give_up_action" {
  description = "After probe_max_attempts unhealthy probes: \"stay_open\" (notify once, leave the mapping disabled and keep probing at the last backoff wait, at most backoff_max_seconds: the circuit closes by itself after a healthy probe, and at the latest before the backlog could outlive the queue retention; needs notifications) or \"close\" (notify and re-enable it)."
  type        = string
  default     = "stay_open"

  validation {
    condition     = contains(["stay_open", "close"], var.give_up_action)
    error_message = "give_up_action must be \"stay_open\" or \"close\"."
  }
}

# ---- Half-open ramp ---------------------------------------------------------------------------
variable "half_open_max_concurrency" {
  description = "Half-open ramp: after a healthy probe, re-enable the mapping with this ScalingConfig.MaximumConcurrency (2-1000) for half_open_seconds before restoring its settings. null: no ramp."
  type        = number
  default     = null

  validation {
    condition     = var.half_open_max_concurrency == null ? true : var.half_open_max_concurrency >= 2 && var.half_open_max_concurrency <= 1000 && floor(var.half_open_max_concurrency) == var.half_open_max_concurrency
    error_message = "half_open_max_concurrency must be null or a whole number from 2 to 1000."
  }
}

variable "half_open_seconds" {
  description = "Duration of the half-open ramp."
  type        = number
  default     = 300

  validation {
    condition     = var.half_open_seconds >= 1 && var.half_open_seconds <= 86400 && floor(var.half_open_seconds) == var.half_open_seconds
    error_message = "half_open_seconds must be a whole number of seconds from 1 to 86400."
  }
}

# ---- Rejitter ---------------------------------------------------------------------------------
variable "rejitter_enabled" {
  description = "Before closing, run the rejitter for rejitter_window_seconds: it re-sends the backlog with random delays so the recovered function is not hit by it at once. Standard queues only."
  type        = bool
  default     = false
}

variable "rejitter_window_seconds" {
  description = "How long the rejitter's mapping stays enabled."
  type        = number
  default     = 300

  validation {
    condition     = var.rejitter_window_seconds >= 1 && var.rejitter_window_seconds <= 43200 && floor(var.rejitter_window_seconds) == var.rejitter_window_seconds
    error_message = "rejitter_window_seconds must be a whole number of seconds from 1 to 43200."
  }
}

variable "rejitter_min_delay_seconds" {
  description = "Smallest delay (0-900 s) the rejitter gives a re-sent message."
  type        = number
  default     = 0

  validation {
    condition     = var.rejitter_min_delay_seconds >= 0 && var.rejitter_min_delay_seconds <= 900 && floor(var.rejitter_min_delay_seconds) == var.rejitter_min_delay_seconds
    error_message = "rejitter_min_delay_seconds must be a whole number from 0 to 900."
  }
}

variable "rejitter_max_delay_seconds" {
  description = "Largest delay (0-900 s, >= rejitter_min_delay_seconds) the rejitter gives a re-sent message."
  type        = number
  default     = 300

  validation {
    condition     = var.rejitter_max_delay_seconds >= 0 && var.rejitter_max_delay_seconds <= 900 && floor(var.rejitter_max_delay_seconds) == var.rejitter_max_delay_seconds
    error_message = "rejitter_max_delay_seconds must be a whole number from 0 to 900."
  }
}

variable "rejitter_batch_size" {
  description = "Batch size of the rejitter's event source mapping (1-10)."
  type        = number
  default     = 10

  validation {
    condition     = var.rejitter_batch_size >= 1 && var.rejitter_batch_size <= 10 && floor(var.rejitter_batch_size) == var.rejitter_batch_size
    error_message = "rejitter_batch_size must be a whole number from 1 to 10."
  }
}

variable "rejitter_timeout_seconds" {
  description = "Timeout of the rejitter function (3-900 s). Lambda refuses to create its event source mapping when the queue's visibility timeout is shorter than this: keep it <= the queue's VisibilityTimeout (the SQS default is 30 s)."
  type        = number
  default     = 20

  validation {
    condition     = var.rejitter_timeout_seconds >= 3 && var.rejitter_timeout_seconds <= 900 && floor(var.rejitter_timeout_seconds) == var.rejitter_timeout_seconds
    error_message = "rejitter_timeout_seconds must be a whole number from 3 to 900 (and at most the queue's visibility timeout)."
  }
}

variable "rejitter_max_concurrency" {
  description = "ScalingConfig.MaximumConcurrency of the rejitter's event source mapping (2-1000): an SQS mapping otherwise scales to about 1,250 concurrent invocations and can starve the account's other functions."
  type        = number
  default     = 5

  validation {
    condition     = var.rejitter_max_concurrency >= 2 && var.rejitter_max_concurrency <= 1000 && floor(var.rejitter_max_concurrency) == var.rejitter_max_concurrency
    error_message = "rejitter_max_concurrency must be a whole number from 2 to 1000."
  }
}

variable "dead_letter_queue_arn" {
  description = "ARN of the dead-letter queue of the protected queue's redrive policy, or null. With rejitter_enabled it is required when the queue has a redrive policy: the rejitter moves a message that has used up maxReceiveCount deliveries there itself (a re-sent copy starts a new receive count), so it needs sqs:SendMessage on it. Without it such a message is left in the queue."
  type        = string
  default     = null

  validation {
    condition     = var.dead_letter_queue_arn == null || can(regex("^arn:[a-z-]+:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}(\\.fifo)?$", var.dead_letter_queue_arn))
    error_message = "dead_letter_queue_arn must be an SQS queue ARN or null."
  }
}

variable "dlq_kms_key_arn" {
  description = "ARN of the KMS key encrypting dead_letter_queue_arn (SSE-KMS), when it is not queue_kms_key_arn, or null: a key ARN (arn:...:key/<id>), not an alias. Grants the rejitter kms:GenerateDataKey/Decrypt on it, which SQS needs to accept the messages the rejitter moves there. The key policy must delegate to IAM (or name the rejitter's role)."
  type        = string
  default     = null

  validation {
    condition     = var.dlq_kms_key_arn == null || can(regex("^arn:[a-z-]+:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.dlq_kms_key_arn))
    error_message = "dlq_kms_key_arn must be a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<key id>), not an alias, or null."
  }
}

# ---- Watch after the close ----------------------------------------------------------------------
variable "alarm_watch_seconds" {
  description = "After a healthy close the execution watches the alarm this long, looking at it every period: an ALARM after an OK (a new wave) re-opens the circuit; an alarm that never left ALARM is re-armed at the end, and re-opens the circuit if it returns to ALARM. null: derived from the alarm, (evaluation_periods + 1) x period + 60 (Lambda publishes its metrics up to a minute late). Shorter re-arms the alarm while the failures from before the open are still in its window (it trips again: a flap)."
  type        = number
  default     = null

  validation {
    condition     = var.alarm_watch_seconds == null || (coalesce(var.alarm_watch_seconds, 1) >= 1 && coalesce(var.alarm_watch_seconds, 1) <= 86400 && floor(coalesce(var.alarm_watch_seconds, 1)) == coalesce(var.alarm_watch_seconds, 1))
    error_message = "alarm_watch_seconds must be null or a whole number of seconds from 1 to 86400."
  }
}

# ---- Notifications and metric -----------------------------------------------------------------
variable "create_sns_topic" {
  description = "Create an SNS topic for the circuit's notifications (subscribe to it yourself; its ARN is the sns_topic_arn output, known at plan time). Set false to use sns_topic_arn instead; false and no sns_topic_arn: no notifications (then give_up_action must be \"close\")."
  type        = bool
  default     = true
}

variable "sns_topic_arn" {
  description = "Existing SNS topic for notifications (with create_sns_topic = false), or null. The module's counts depend only on create_sns_topic, so this may come from a resource of the same configuration. Its topic policy must allow sns:Publish to events.amazonaws.com (aws:SourceArn: the execution-status rule <name>-cb-status) and to cloudwatch.amazonaws.com (aws:SourceArn: the breaker alarms <name>-cb-delivery-failed, -execution-failed, -open-too-long, -trigger-failed), and its KMS key, if any, must allow the state machine's role, EventBridge and CloudWatch (see sns_kms_key_arn)."
  type        = string
  default     = null

  validation {
    condition     = var.sns_topic_arn == null || can(regex("^arn:[a-z-]+:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]+$", var.sns_topic_arn))
    error_message = "sns_topic_arn must be an SNS topic ARN or null."
  }
}

variable "sns_kms_key_arn" {
  description = "KMS key ARN (arn:...:key/<id>, not an alias) encrypting the topic (used for the created topic, and granted to the state machine), or null. Its key policy must let two service principals use it (kms:GenerateDataKey*, kms:Decrypt): events.amazonaws.com (the execution-status notifications; KMS requests from EventBridge carry no aws:SourceArn, so do not condition that grant on it) and cloudwatch.amazonaws.com (the breaker alarms; may be conditioned on aws:SourceAccount). Without them SNS drops those notifications silently."
  type        = string
  default     = null

  validation {
    condition     = var.sns_kms_key_arn == null || can(regex("^arn:[a-z-]+:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.sns_kms_key_arn))
    error_message = "sns_kms_key_arn must be a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<key id>), not an alias, or null."
  }
}

variable "metric_namespace" {
  description = "CloudWatch namespace of the breaker's metrics (dimension Circuit = name): CircuitState (1 open, 0.5 recovering: rejitter or half-open ramp, 0 closed) and OpenSeconds (time open so far, each probe loop)."
  type        = string
  default     = "SqsCircuitBreaker"

  validation {
    condition     = can(regex("^[A-Za-z0-9._/#:-]{1,255}$", var.metric_namespace)) && !startswith(var.metric_namespace, "AWS/")
    error_message = "metric_namespace must be 1-255 characters of [A-Za-z0-9._/#:-] and must not start with AWS/."
  }
}

variable "notification_format" {
  description = "Format of the notifications: text (readable messages, the default) or json (one JSON object per message, for machines: circuit, state, event, message, mapping, stateMachine, execution, at, consoleLinks)."
  type        = string
  default     = "text"
  nullable    = false

  validation {
    condition     = contains(["text", "json"], var.notification_format)
    error_message = "notification_format must be \"text\" or \"json\"."
  }
}

variable "transition_event_bus" {
  description = "EventBridge event bus of the circuit's region (name or ARN) that receives a Circuit State Change event (source sqs-circuit-breaker, schema in docs/events.md) at every transition of the circuit: OPEN, HALF-OPEN (each probe, the ramp), back to OPEN after an unhealthy probe, GAVE UP, HELD, CLOSED. \"default\" is the account's default bus. null (the default) publishes no events; SNS notifications are independent of this."
  type        = string
  default     = null

  validation {
    condition = var.transition_event_bus == null || can(regex(
      "^([/.\\-_A-Za-z0-9]{1,256}|arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/[/.\\-_A-Za-z0-9]{1,256})$",
      var.transition_event_bus
    ))
    error_message = "transition_event_bus must be an event bus name (1-256 of A-Z a-z 0-9 . - _ /), \"default\", or an event bus ARN (arn:aws:events:<region>:<account>:event-bus/<name>)."
  }
}

# ---- Operating: pause, dashboard, alarms on the breaker ----------------------------------------
variable "enabled" {
  description = "false pauses the breaker without destroying anything: the alarm -> state machine rule is disabled, so an alarm no longer opens the circuit (an episode already running goes on; the CLI still works). For example during a planned deployment."
  type        = bool
  default     = true
  nullable    = false
}

variable "create_dashboard" {
  description = "Create a CloudWatch dashboard <name>-circuit-breaker: circuit state, the function's invocations / errors / error rate next to the alarm threshold, queue depth and oldest message age, DLQ depth, episode executions, probes. Costs 3 USD per month beyond the free tier."
  type        = bool
  default     = false
  nullable    = false
}

variable "breaker_alarms" {
  description = "Alarms on the breaker itself, created when notifications are on (they notify the same topic): execution_failed (an episode execution failed, was aborted or timed out), open_too_long (the circuit stayed open longer than open_alarm_after_seconds), trigger_failed (the alarm -> state machine rule failed to start an execution: FailedInvocations). Each can be turned off."
  type = object({
    execution_failed = optional(bool, true)
    open_too_long    = optional(bool, true)
    trigger_failed   = optional(bool, true)
  })
  default  = {}
  nullable = false
}

variable "open_alarm_after_seconds" {
  description = "open_too_long alarm: fires when an episode has kept the circuit open this long (the OpenSeconds metric each probe loop publishes; detected at the first probe loop past it). Holds are intentional and do not count."
  type        = number
  default     = 3600
  nullable    = false

  validation {
    condition     = var.open_alarm_after_seconds >= 10 && var.open_alarm_after_seconds <= 1209600 && floor(var.open_alarm_after_seconds) == var.open_alarm_after_seconds
    error_message = "open_alarm_after_seconds must be a whole number of seconds between 10 and 1209600 (14 days)."
  }
}

# ---- Logging and tracing ----------------------------------------------------------------------
variable "log_retention_days" {
  description = "Retention, in days, of the state machine's and the functions' log groups."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "log_level" {
  description = "Execution log level of the state machine: ALL, ERROR, FATAL or OFF."
  type        = string
  default     = "ERROR"

  validation {
    condition     = contains(["ALL", "ERROR", "FATAL", "OFF"], var.log_level)
    error_message = "log_level must be ALL, ERROR, FATAL or OFF."
  }
}

variable "log_include_execution_data" {
  description = "Include states' input and output in the execution log (may contain message bodies)."
  type        = bool
  default     = false
}

variable "log_kms_key_arn" {
  description = "KMS key ARN (arn:...:key/<id>, not an alias) encrypting the log groups, or null. Its key policy must allow CloudWatch Logs."
  type        = string
  default     = null

  validation {
    condition     = var.log_kms_key_arn == null || can(regex("^arn:[a-z-]+:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.log_kms_key_arn))
    error_message = "log_kms_key_arn must be a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<key id>), not an alias, or null."
  }
}

variable "tracing_enabled" {
  description = "Enable AWS X-Ray tracing of the state machines and the probe and rejitter functions (Active tracing; their roles may then write traces)."
  type        = bool
  default     = false
}

variable "lambda_architecture" {
  description = "Architecture of the probe and rejitter functions: x86_64 or arm64."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.lambda_architecture)
    error_message = "lambda_architecture must be x86_64 or arm64."
  }
}

# ---- IAM ----------------------------------------------------------------------------------------
variable "role_permissions_boundary" {
  description = "ARN of the IAM policy set as the permissions boundary of every role the module creates (state machine, cleanup, probe, rejitter, EventBridge), or null."
  type        = string
  default     = null

  validation {
    condition     = var.role_permissions_boundary == null || can(regex("^arn:[a-z-]+:iam::([0-9]{12}|aws):policy/.+$", var.role_permissions_boundary))
    error_message = "role_permissions_boundary must be an IAM policy ARN (arn:<partition>:iam::<account>:policy/<path><name>) or null."
  }
}

variable "role_path" {
  description = "Path of every IAM role the module creates (\"/\" or \"/<segments>/\", e.g. \"/circuit-breakers/\")."
  type        = string
  default     = "/"

  validation {
    condition     = length(var.role_path) <= 512 && can(regex("^/([\\x21-\\x7E]+/)?$", var.role_path)) && !strcontains(var.role_path, "//")
    error_message = "role_path must be \"/\" or start and end with \"/\" (printable ASCII, no \"//\", at most 512 characters)."
  }
}

variable "role_name_prefix" {
  description = "Prefix of the default IAM role names (\"<prefix><name>-cb-sfn\", ...), e.g. an organisation's required \"app-\"; at most 12 characters, so every name fits IAM's 64. Ignored for a role named in role_names."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{0,12}$", var.role_name_prefix))
    error_message = "role_name_prefix must be at most 12 characters of [A-Za-z0-9+=,.@_-]."
  }
}

variable "role_names" {
  description = "Full IAM role names replacing the defaults, per role: state_machine (<name>-cb-sfn), cleanup (<name>-cb-cleanup, with the rejitter), probe (<name>-cb-probe), rejitter (<name>-cb-rejitter), events (<name>-cb-events). Unset roles keep the default (with role_name_prefix). Role names are global per account."
  type = object({
    state_machine = optional(string)
    cleanup       = optional(string)
    probe         = optional(string)
    rejitter      = optional(string)
    events        = optional(string)
  })
  default  = {}
  nullable = false

  validation {
    condition     = alltrue([for n in values(var.role_names) : n == null || can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", coalesce(n, "x")))])
    error_message = "every name in role_names must be 1-64 characters of [A-Za-z0-9+=,.@_-]."
  }

  validation {
    condition     = length(compact(values(var.role_names))) == length(distinct(compact(values(var.role_names))))
    error_message = "the names in role_names must differ from each other."
  }
}

# ---- Compliance ---------------------------------------------------------------------------------
# Options some organisations require (and checkov checks). Off by default where they cost money or
# need setup of your own (a VPC, a signing profile, a key); tracing follows tracing_enabled.
variable "lambda_log_level" {
  description = "LOG_LEVEL of the probe and rejitter functions (their JSON logs): DEBUG, INFO, WARN or ERROR."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARN", "ERROR"], var.lambda_log_level)
    error_message = "lambda_log_level must be DEBUG, INFO, WARN or ERROR."
  }
}

variable "probe_reserved_concurrency" {
  description = "Reserved concurrency of the probe function, so that it can run while the account's concurrency is saturated (each alarm execution's claim of the episode, the open's read, each probe loop and the watch invoke it: 2 is enough, one for the episode's task and one for the brief claim of a duplicate alarm execution, which is retried when throttled), or null for none. Without it, a saturated account throttles these invocations: the state machine retries them with backoff, then notifies (an open that could not read the mapping changes nothing; a loop takes the failure path, which closes). Reserving takes from the account's unreserved pool, which Lambda keeps at 100 or more."
  type        = number
  default     = null

  validation {
    condition     = var.probe_reserved_concurrency == null || (coalesce(var.probe_reserved_concurrency, 1) >= 1 && coalesce(var.probe_reserved_concurrency, 1) <= 1000 && floor(coalesce(var.probe_reserved_concurrency, 1)) == coalesce(var.probe_reserved_concurrency, 1))
    error_message = "probe_reserved_concurrency must be null or a whole number from 1 to 1000."
  }
}

variable "code_signing_config_arn" {
  description = "ARN of a Lambda code signing configuration for the probe and rejitter functions, or null. The module deploys its own unsigned zips (dist/*.zip): use a configuration whose UntrustedArtifactOnDeployment policy is Warn, or Lambda refuses them."
  type        = string
  default     = null

  validation {
    condition     = var.code_signing_config_arn == null || can(regex("^arn:[a-z-]+:lambda:[a-z0-9-]+:[0-9]{12}:code-signing-config:csc-[a-z0-9]{17}$", var.code_signing_config_arn))
    error_message = "code_signing_config_arn must be a Lambda code signing configuration ARN (arn:<partition>:lambda:<region>:<account>:code-signing-config:csc-<17 characters>) or null."
  }
}

variable "vpc_subnet_ids" {
  description = "Subnets of the probe and rejitter functions (with vpc_security_group_ids), or [] to run them outside a VPC. In a VPC they need a route to the SQS, Lambda, Step Functions, DynamoDB, SSM, CloudWatch (metrics), CloudWatch Logs and KMS (if used) endpoints, and EventBridge's with transition_event_bus: VPC endpoints (DynamoDB's can be a gateway endpoint) or a NAT gateway. The probe's claim reads the control marker (SSM) and takes the lease; its check reads the execution's history, the lease and the mapping, and publishes the open circuit's heartbeat."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for s in var.vpc_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "vpc_subnet_ids must be subnet IDs (subnet-<hex>)."
  }
}

variable "vpc_security_group_ids" {
  description = "Security groups of the probe and rejitter functions in the VPC (with vpc_subnet_ids), or []. They need outbound HTTPS only."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for s in var.vpc_security_group_ids : can(regex("^sg-[0-9a-f]{8,17}$", s))])
    error_message = "vpc_security_group_ids must be security group IDs (sg-<hex>)."
  }
}

variable "state_machine_kms_key_arn" {
  description = "KMS key ARN (arn:...:key/<id>, not an alias) encrypting the state machines' definitions and execution history (customer-managed key), or null for the AWS-owned key. The module grants the state machines' roles and the EventBridge role the key, limited to its state machines by encryption context; the key policy must delegate to IAM (or name those roles) and, with execution logging, let delivery.logs.amazonaws.com decrypt."
  type        = string
  default     = null

  validation {
    condition     = var.state_machine_kms_key_arn == null || can(regex("^arn:[a-z-]+:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.state_machine_kms_key_arn))
    error_message = "state_machine_kms_key_arn must be a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<key id>), not an alias, or null."
  }
}

variable "state_machine_kms_data_key_reuse_seconds" {
  description = "With state_machine_kms_key_arn: how long Step Functions reuses a data key before it calls KMS again (60-900 s; longer is cheaper)."
  type        = number
  default     = 300

  validation {
    condition     = var.state_machine_kms_data_key_reuse_seconds >= 60 && var.state_machine_kms_data_key_reuse_seconds <= 900 && floor(var.state_machine_kms_data_key_reuse_seconds) == var.state_machine_kms_data_key_reuse_seconds
    error_message = "state_machine_kms_data_key_reuse_seconds must be a whole number from 60 to 900."
  }
}
