# terraform-aws-sqs-circuit-breaker: a circuit breaker for an SQS -> Lambda event source mapping.
#
#   alarm (error rate of the function) --ALARM--> EventBridge rule --> Step Functions state machine
#   state machine: open (disable the mapping) -> probe with backoff -> [rejitter] -> [half-open] -> close
#
# The caller's aws_lambda_event_source_mapping MUST have lifecycle { ignore_changes = [enabled] }:
# otherwise a later apply re-enables a mapping the circuit has opened.

# ---- Input checks that involve several variables (Terraform >= 1.6 has no cross-variable validation)
resource "terraform_data" "input_checks" {
  lifecycle {
    precondition {
      # PutEvents goes to the caller's region: the state machine's and the probe's.
      condition     = local.transition_event_bus_arn == null || split(":", coalesce(local.transition_event_bus_arn, "a:b:c:d"))[3] == local.region
      error_message = "transition_event_bus must be a bus of the circuit's region (${local.region}): the state machine and the probe put events in their own region. To reach a bus elsewhere, add a rule on a bus of this region that targets it."
    }
    precondition {
      condition     = !(var.rejitter_enabled && local.queue_is_fifo)
      error_message = "rejitter_enabled cannot be used with a FIFO queue: re-sending with per-message delays would break its ordering (and FIFO queues do not support per-message delays)."
    }
    precondition {
      condition     = var.rejitter_min_delay_seconds <= var.rejitter_max_delay_seconds
      error_message = "rejitter_min_delay_seconds must be <= rejitter_max_delay_seconds."
    }
    precondition {
      condition     = var.probe_mode != "synthetic" || var.probe_synthetic_body != null
      error_message = "probe_mode = \"synthetic\" requires probe_synthetic_body."
    }
    precondition {
      condition     = !(var.create_sns_topic && var.sns_topic_arn != null)
      error_message = "sns_topic_arn is set: also set create_sns_topic = false (a topic is created by default)."
    }
    precondition {
      condition     = var.give_up_action == "close" || local.notifications_enabled
      error_message = "give_up_action = stay_open needs notifications (create_sns_topic or sns_topic_arn): otherwise an open circuit would be silent."
    }
    precondition {
      condition     = var.alarm_failure_signal == "function_errors" || var.existing_alarm == null
      error_message = "alarm_failure_signal chooses the signal of the alarm the module creates: with existing_alarm there is none. Count the mapping's FailedInvokeEventCount in your own alarm, or remove existing_alarm."
    }
    precondition {
      # Lambda publishes a mapping's event counts only when its metrics_config asks for them:
      # without, the alarm would silently never see a failed event.
      condition     = var.alarm_failure_signal == "function_errors" || (var.event_source_mapping_metrics == null ? false : contains(var.event_source_mapping_metrics, "EventCount"))
      error_message = "alarm_failure_signal = \"mapping_events\" reads the mapping's EventCount metrics (InvokedEventCount, FailedInvokeEventCount), which Lambda publishes only when the mapping asks for them: add metrics_config { metrics = [\"EventCount\"] } to your aws_lambda_event_source_mapping and pass event_source_mapping_metrics = flatten(aws_lambda_event_source_mapping.<name>.metrics_config[*].metrics)."
    }
    precondition {
      condition     = var.slow_call_rate_threshold_percent == null || var.slow_call_duration_threshold_ms != null
      error_message = "slow_call_rate_threshold_percent needs slow_call_duration_threshold_ms: set the duration that makes a call slow."
    }
    precondition {
      condition     = var.alarm_datapoints_to_alarm == null || coalesce(var.alarm_datapoints_to_alarm, 1) <= var.alarm_evaluation_periods
      error_message = "alarm_datapoints_to_alarm must be <= alarm_evaluation_periods."
    }
    precondition {
      condition     = var.backoff_max_seconds >= var.backoff_initial_seconds
      error_message = "backoff_max_seconds must be >= backoff_initial_seconds."
    }
    precondition {
      # A message that failed a probe is hidden for the next wait + the margin (standard queues).
      # SQS counts the 12-hour maximum from the receive, and the probe changes the visibility up
      # to its own timeout plus 60 s after it received the message.
      condition     = local.queue_is_fifo || var.backoff_max_seconds + var.probe_failure_visibility_margin_seconds + var.probe_timeout_seconds + 60 <= 43200
      error_message = "backoff_max_seconds + probe_failure_visibility_margin_seconds + probe_timeout_seconds + 60 must not exceed 43200: SQS's maximum visibility timeout (12 hours) counts from the receive, and a message that failed a probe is hidden for the next wait plus the margin up to probe_timeout_seconds + 60 s after the probe received it."
    }
    precondition {
      condition     = split(":", var.queue_arn)[5] == element(split("/", var.queue_url), length(split("/", var.queue_url)) - 1)
      error_message = "queue_url and queue_arn must name the same queue."
    }
    precondition {
      condition     = var.dlq_kms_key_arn == null || var.dead_letter_queue_arn != null
      error_message = "dlq_kms_key_arn is the key of dead_letter_queue_arn: set dead_letter_queue_arn too."
    }
    precondition {
      condition     = (length(var.vpc_subnet_ids) == 0) == (length(var.vpc_security_group_ids) == 0)
      error_message = "vpc_subnet_ids and vpc_security_group_ids go together: set both (the functions run in the VPC) or neither."
    }
  }
}

# ---- Notifications (on by default; create_sns_topic = false to use sns_topic_arn) ---------------
resource "aws_sns_topic" "this" {
  count = local.create_topic ? 1 : 0

  name              = local.names.topic
  kms_master_key_id = var.sns_kms_key_arn
  tags              = var.tags
}

# The default topic policy (the account may manage and use its topic), plus the two services that
# publish to it as service principals: EventBridge (the execution-status notifications: execution
# aborted, timed out or failed) and CloudWatch (the breaker's own alarms).
data "aws_iam_policy_document" "topic" {
  count = local.create_topic ? 1 : 0

  statement {
    sid = "AccountOwner"
    actions = [
      "sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:AddPermission", "sns:RemovePermission",
      "sns:DeleteTopic", "sns:Subscribe", "sns:ListSubscriptionsByTopic", "sns:Publish",
    ]
    resources = [local.sns_topic_arn]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }

    condition {
      test     = "StringEquals"
      variable = "AWS:SourceOwner"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "ExecutionStatusRulePublishes"
    actions   = ["sns:Publish"]
    resources = [local.sns_topic_arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [local.status_rule_arn]
    }
  }

  # CloudWatch alarm actions publish as the service principal, not as the account: without this
  # statement the breaker's own alarms (delivery failed, execution failed, open too long, trigger
  # failed) would be dropped by SNS. Scoped to exactly these alarms of this account
  # (confused-deputy guard; CloudWatch sends aws:SourceArn = the alarm's ARN).
  statement {
    sid       = "BreakerAlarmsPublish"
    actions   = ["sns:Publish"]
    resources = [local.sns_topic_arn]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = local.breaker_alarm_arns
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "this" {
  count = local.create_topic ? 1 : 0

  arn    = aws_sns_topic.this[0].arn
  policy = data.aws_iam_policy_document.topic[0].json
}

# ---- Alarm (unless the caller brings one) -----------------------------------------------------
module "alarm" {
  source = "./modules/alarm"
  count  = local.create_alarm ? 1 : 0

  alarm_name        = local.names.alarm
  circuit_name      = var.name
  function_name     = local.target_function_name
  threshold_percent = var.alarm_threshold_percent
  min_invocations   = var.alarm_min_invocations
  failure_signal    = var.alarm_failure_signal
  # The mapping's event counts are published under its UUID (the EventSourceMappingUUID dimension).
  event_source_mapping_uuid        = var.event_source_mapping_uuid
  slow_call_duration_threshold_ms  = var.slow_call_duration_threshold_ms
  slow_call_rate_threshold_percent = var.slow_call_rate_threshold_percent
  period_seconds                   = var.alarm_period_seconds
  evaluation_periods               = var.alarm_evaluation_periods
  datapoints_to_alarm              = coalesce(var.alarm_datapoints_to_alarm, var.alarm_evaluation_periods)
  tags                             = var.tags
}

# ---- Probe function ---------------------------------------------------------------------------
# The probe invokes the protected function synchronously and must outlive its longest run: a
# probe that Lambda ends mid-invoke fails its task, and the breaker would take its failure path
# (close) while the function hangs. The probe waits for the answer until its own time is nearly up
# (lambda_src/probe: invoke_read_timeout); a function slower than that is unhealthy, so the
# probe's timeout must cover the function's timeout, the receive's long poll and the hand-back.
# Read at plan time when the function exists (after the first apply of a configuration that
# creates it, at apply: depends_on defers the read until the function has been created).
data "aws_lambda_function" "protected" {
  function_name = var.function_name

  depends_on = [terraform_data.input_checks]

  lifecycle {
    postcondition {
      condition     = var.probe_timeout_seconds >= self.timeout + var.probe_wait_time_seconds + local.probe_reserve_seconds
      error_message = "probe_timeout_seconds (${var.probe_timeout_seconds}) must be at least the protected function's timeout (${self.timeout} s) + probe_wait_time_seconds (${var.probe_wait_time_seconds}) + ${local.probe_reserve_seconds} s (10, and 4 more for transition events), i.e. ${self.timeout + var.probe_wait_time_seconds + local.probe_reserve_seconds}: the probe invokes the function synchronously, and a probe that Lambda ends mid-invoke would make the breaker close while the function hangs. Raise probe_timeout_seconds (at most 900), or lower the function's timeout."
    }
    postcondition {
      # A call that runs past the timeout is an error, never a slow call.
      condition     = var.slow_call_duration_threshold_ms == null || coalesce(var.slow_call_duration_threshold_ms, 0) < self.timeout * 1000
      error_message = "slow_call_duration_threshold_ms (${coalesce(var.slow_call_duration_threshold_ms, 0)}) must be below the protected function's timeout (${self.timeout * 1000} ms): a call that runs that long times out and counts as an error, never as slow."
    }
  }
}

module "probe" {
  source = "./modules/function"

  function_name      = local.names.probe
  role_name          = local.names.probe_role
  description        = "Circuit breaker ${var.name}: probes ${local.target_function_name} with one message of its queue."
  filename           = "${path.module}/dist/probe.zip"
  handler            = "probe.handler"
  timeout_seconds    = var.probe_timeout_seconds
  architecture       = var.lambda_architecture
  log_retention_days = var.log_retention_days
  log_kms_key_arn    = var.log_kms_key_arn
  partition          = local.partition
  region             = local.region
  account_id         = local.account_id
  tags               = var.tags

  role_path                 = var.role_path
  role_permissions_boundary = var.role_permissions_boundary

  tracing_enabled         = var.tracing_enabled
  reserved_concurrency    = var.probe_reserved_concurrency
  code_signing_config_arn = var.code_signing_config_arn
  subnet_ids              = var.vpc_subnet_ids
  security_group_ids      = var.vpc_security_group_ids
  environment             = { LOG_LEVEL = var.lambda_log_level }

  policy_statements = concat(
    [
      {
        sid        = "ReadProtectedQueue"
        actions    = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
        resources  = [var.queue_arn]
        conditions = []
      },
      {
        # The probe invokes the mapping's FunctionArn, which names a version or an alias when the
        # mapping does (":*"); the tests map unqualified functions only, so make iam-report
        # lists the qualified grant as unused.
        sid        = "InvokeProtectedFunction"
        actions    = ["lambda:InvokeFunction"]
        resources  = [local.target_function_arn, "${local.target_function_arn}:*"]
        conditions = []
      },
      {
        # The mapping's FilterCriteria are judged with EventBridge's own implementation of the
        # pattern language (only when the mapping has filters). TestEventPattern has no
        # resource type: IAM requires "*".
        sid        = "JudgeMappingFilters"
        actions    = ["events:TestEventPattern"]
        resources  = ["*"]
        conditions = []
      },
      {
        # The loops' tasks (the check in Probe, LookAtAlarm: lambda_src/probe/step.py): the
        # execution's own history size (the history quota), the episode's lease (superseded?),
        # and the mapping's state before a probe (re-enabled by someone else?). Single flight
        # (ClaimEpisode, lambda_src/probe/claim.py): is the lease's holder still running?
        sid        = "OwnExecutions"
        actions    = ["states:GetExecutionHistory", "states:DescribeExecution"]
        resources  = ["arn:${local.partition}:states:${local.region}:${local.account_id}:execution:${local.names.state_machine}:*"]
        conditions = []
      },
      {
        # Read by the loops; taken by ClaimEpisode with conditional writes; released by the look
        # that ends the episode (a conditional delete).
        sid        = "EpisodeLease"
        actions    = ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
        resources  = ["arn:${local.partition}:dynamodb:${local.region}:${local.account_id}:table/${local.names.lease_table}"]
        conditions = []
      },
      {
        # ClaimEpisode: an operator command writes the marker; while it says hold, an alarm
        # execution ignores the alarm.
        sid        = "ControlMarker"
        actions    = ["ssm:GetParameter", "ssm:PutParameter"]
        resources  = ["arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${local.parameter_path}/control"]
        conditions = []
      },
      {
        sid        = "ReadEventSourceMapping"
        actions    = ["lambda:GetEventSourceMapping"]
        resources  = ["arn:${local.partition}:lambda:${local.region}:${local.account_id}:event-source-mapping:${var.event_source_mapping_uuid}"]
        conditions = []
      },
      {
        # The watch after a close (LookAtAlarm, lambda_src/probe/step.py): the alarm's state, and
        # at the end of the window its re-arm (a metric alarm only; a composite one is never reset).
        sid        = "WatchAndRearmAlarm"
        actions    = ["cloudwatch:DescribeAlarms", "cloudwatch:SetAlarmState"]
        resources  = [local.alarm_arn]
        conditions = []
      },
      {
        # The open circuit's heartbeat (CircuitState 1, OpenSeconds) after each check, and
        # CircuitState 0.5 when a healthy probe starts a recovery with a rejitter or a ramp.
        # PutMetricData has no resource-level permissions ("*" is required); the namespace
        # condition limits it to this module's metric namespace.
        sid       = "PublishOpenHeartbeat"
        actions   = ["cloudwatch:PutMetricData"]
        resources = ["*"]
        conditions = [{
          test     = "StringEquals"
          variable = "cloudwatch:namespace"
          values   = [var.metric_namespace]
        }]
      },
    ],
    [{
      # The open (ClaimEpisode, lambda_src/probe/opening.py) records the mapping's
      # settings before it disables a running mapping, and (with a half-open ramp only) reads the
      # ones recorded at the last open when the mapping still runs with the ramp's concurrency.
      sid        = "RecordedSettings"
      actions    = concat(["ssm:PutParameter"], var.half_open_max_concurrency == null ? [] : ["ssm:GetParameter"])
      resources  = ["arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${local.parameter_path}/settings"]
      conditions = []
    }],
    local.transition_event_bus_arn == null ? [] : [{
      # Transition events around each probe (OPEN -> HALF-OPEN, and back after an unhealthy one).
      sid        = "PutTransitionEvents"
      actions    = ["events:PutEvents"]
      resources  = [local.transition_event_bus_arn]
      conditions = []
    }],
    var.queue_kms_key_arn == null ? [] : [{
      sid        = "DecryptQueueMessages"
      actions    = ["kms:Decrypt"]
      resources  = [var.queue_kms_key_arn]
      conditions = []
    }],
  )
}

# ---- Rejitter (optional) ----------------------------------------------------------------------
module "rejitter" {
  source = "./modules/function"
  count  = var.rejitter_enabled ? 1 : 0

  function_name      = local.names.rejitter
  role_name          = local.names.rejitter_role
  description        = "Circuit breaker ${var.name}: re-sends the backlog of ${local.queue_name} with random delays."
  filename           = "${path.module}/dist/rejitter.zip"
  handler            = "rejitter.handler"
  timeout_seconds    = var.rejitter_timeout_seconds
  architecture       = var.lambda_architecture
  log_retention_days = var.log_retention_days
  log_kms_key_arn    = var.log_kms_key_arn
  partition          = local.partition
  region             = local.region
  account_id         = local.account_id
  tags               = var.tags

  role_path                 = var.role_path
  role_permissions_boundary = var.role_permissions_boundary

  tracing_enabled         = var.tracing_enabled
  code_signing_config_arn = var.code_signing_config_arn
  subnet_ids              = var.vpc_subnet_ids
  security_group_ids      = var.vpc_security_group_ids

  environment = {
    QUEUE_URL         = var.queue_url
    MIN_DELAY_SECONDS = tostring(var.rejitter_min_delay_seconds)
    MAX_DELAY_SECONDS = tostring(var.rejitter_max_delay_seconds)
    WINDOW_SECONDS    = tostring(var.rejitter_window_seconds)
    LOG_LEVEL         = var.lambda_log_level
  }

  policy_statements = concat(
    [{
      # ChangeMessageVisibility hides a message the rejitter must not copy now (a copy of this
      # window seen again, a message the DLQ refused): unit-tested (tests/unit/test_rejitter.py)
      # and met by make test-faults; make test alone lists it as unused (make iam-report).
      sid = "ConsumeAndResendProtectedQueue"
      actions = [
        "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
        "sqs:ChangeMessageVisibility", "sqs:SendMessage",
      ]
      resources  = [var.queue_arn]
      conditions = []
    }],
    var.dead_letter_queue_arn == null ? [] : [{
      # A re-sent copy starts a new receive count: the rejitter moves a message that has used up
      # maxReceiveCount deliveries to the DLQ itself, as SQS would.
      sid        = "MoveExhaustedToDeadLetterQueue"
      actions    = ["sqs:SendMessage"]
      resources  = [var.dead_letter_queue_arn]
      conditions = []
    }],
    local.queue_kms_statements,
    var.dlq_kms_key_arn == null || var.dlq_kms_key_arn == var.queue_kms_key_arn ? [] : [{
      # SendMessage to an SSE-KMS queue needs the queue's key (GenerateDataKey to encrypt, Decrypt
      # to verify the data key): a DLQ with its own key refuses the moved message without it.
      sid        = "UseDeadLetterQueueKey"
      actions    = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources  = [var.dlq_kms_key_arn]
      conditions = []
    }],
  )
}

# Created disabled; only the state machine turns it on (for rejitter_window_seconds) and off again.
resource "aws_lambda_event_source_mapping" "rejitter" {
  count = var.rejitter_enabled ? 1 : 0

  event_source_arn        = var.queue_arn
  function_name           = module.rejitter[0].function_arn
  enabled                 = false
  batch_size              = var.rejitter_batch_size
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.rejitter_max_concurrency
  }

  tags = var.tags

  lifecycle {
    # The state machine toggles it; Terraform must not undo that.
    ignore_changes = [enabled]
  }
}

# ---- State machine ----------------------------------------------------------------------------
module "state_machine" {
  source = "./modules/state-machine"

  circuit_name       = var.name
  state_machine_name = local.names.state_machine
  lease_table_name   = local.names.lease_table
  role_name          = local.names.sfn_role
  cleanup_role_name  = local.names.cleanup_role
  partition          = local.partition
  region             = local.region
  account_id         = local.account_id

  mapping_uuid        = var.event_source_mapping_uuid
  queue_url           = var.queue_url
  queue_arn           = var.queue_arn
  target_function_arn = local.target_function_arn

  # Computed from the name (known at plan time); the function is created in the same apply.
  probe_function_arn                = local.probe_function_arn
  probe_mode                        = var.probe_mode
  synthetic_body                    = var.probe_synthetic_body
  probe_wait_time_seconds           = var.probe_wait_time_seconds
  probe_timeout_seconds             = var.probe_timeout_seconds
  slow_call_duration_threshold_ms   = var.slow_call_duration_threshold_ms
  open_wait_seconds                 = var.open_wait_seconds
  backoff_initial_seconds           = var.backoff_initial_seconds
  backoff_rate                      = var.backoff_rate
  backoff_max_seconds               = var.backoff_max_seconds
  backoff_jitter                    = var.backoff_jitter
  max_attempts                      = var.probe_max_attempts
  failure_visibility_margin_seconds = var.probe_failure_visibility_margin_seconds
  retention_margin_seconds          = var.retention_margin_seconds
  give_up_action                    = var.give_up_action
  half_open_max_concurrency         = var.half_open_max_concurrency
  half_open_seconds                 = var.half_open_seconds
  rejitter_enabled                  = var.rejitter_enabled
  rejitter_mapping_uuid             = var.rejitter_enabled ? aws_lambda_event_source_mapping.rejitter[0].uuid : null
  rejitter_window_seconds           = var.rejitter_window_seconds
  retry_interval_seconds            = var.breaker_retry_interval_seconds
  retry_max_delay_seconds           = var.breaker_retry_max_delay_seconds

  notifications_enabled = local.notifications_enabled
  sns_topic_arn         = local.sns_topic_arn
  sns_kms_key_arn       = var.sns_kms_key_arn
  notification_format   = var.notification_format
  metric_namespace      = var.metric_namespace

  transition_event_bus_arn = local.transition_event_bus_arn
  alarm_name               = local.alarm_name
  alarm_arn                = local.alarm_arn
  alarm_is_metric          = var.existing_alarm == null # the alarm module makes a metric alarm
  watch_seconds            = local.watch_seconds
  alarm_period_seconds     = local.alarm_period

  log_retention_days         = var.log_retention_days
  log_level                  = var.log_level
  log_include_execution_data = var.log_include_execution_data
  log_kms_key_arn            = var.log_kms_key_arn
  tracing_enabled            = var.tracing_enabled

  # Operator control (sqs-circuit-breaker open / close): SSM parameters under this path.
  parameter_path = local.parameter_path

  tags = var.tags

  role_path                 = var.role_path
  role_permissions_boundary = var.role_permissions_boundary

  kms_key_arn                       = var.state_machine_kms_key_arn
  kms_data_key_reuse_period_seconds = var.state_machine_kms_data_key_reuse_seconds
}

# ---- Trigger ----------------------------------------------------------------------------------
module "trigger" {
  source = "./modules/trigger"

  circuit_name      = var.name
  rule_name         = local.names.rule
  role_name         = local.names.events_role
  partition         = local.partition
  region            = local.region
  account_id        = local.account_id
  alarm_arn         = local.alarm_arn
  state_machine_arn = module.state_machine.state_machine_arn
  tags              = var.tags

  notification_format = var.notification_format

  # enabled = false pauses the breaker: the alarm no longer starts episodes (nothing is destroyed).
  rule_enabled = var.enabled

  # Execution aborted / timed out / failed (StopExecution, TIMED_OUT and States.Runtime cannot be
  # caught inside the state machine): EventBridge notifies the topic directly.
  status_notifications_enabled = local.notifications_enabled
  status_rule_name             = local.names.status_rule
  watched_state_machine_arn    = module.state_machine.computed_state_machine_arn
  sns_topic_arn                = local.sns_topic_arn
  mapping_uuid                 = var.event_source_mapping_uuid

  # A failed delivery (alarm -> state machine, status -> topic or cleanup) lands in a DLQ whose
  # alarm notifies the topic.
  delivery_dlq_name   = local.names.delivery_dlq
  delivery_alarm_name = local.names.delivery_alarm

  # With the rejitter: an execution that ends without closing (stopped, timed out, failed) must
  # not leave the rejitter's mapping on.
  cleanup_enabled           = var.rejitter_enabled
  cleanup_state_machine_arn = module.state_machine.cleanup_state_machine_arn

  role_path                 = var.role_path
  role_permissions_boundary = var.role_permissions_boundary
  state_machine_kms_key_arn = var.state_machine_kms_key_arn

  depends_on = [aws_sns_topic_policy.this]
}

# ---- Observability: dashboard and alarms on the breaker itself ---------------------------------
module "observability" {
  source = "./modules/observability"

  circuit_name      = var.name
  region            = local.region
  metric_namespace  = var.metric_namespace
  state_machine_arn = module.state_machine.computed_state_machine_arn
  function_name     = local.target_function_name
  queue_name        = local.queue_name
  dlq_name          = var.dead_letter_queue_arn == null ? null : split(":", var.dead_letter_queue_arn)[5]
  alarm_arn         = local.alarm_arn
  alarm_threshold   = local.create_alarm ? var.alarm_threshold_percent : null
  # the created alarm's other signals, drawn next to the error rate
  event_source_mapping_uuid       = local.create_alarm && var.alarm_failure_signal == "mapping_events" ? var.event_source_mapping_uuid : null
  slow_call_duration_threshold_ms = local.create_alarm ? var.slow_call_duration_threshold_ms : null
  rule_name                       = local.names.rule
  delivery_dlq_name               = local.names.delivery_dlq
  probe_function                  = local.names.probe
  alarm_name_prefix               = local.names.breaker_alarm_prefix
  alarm_actions                   = local.notifications_enabled ? [local.sns_topic_arn] : []
  create_dashboard                = var.create_dashboard
  dashboard_name                  = "${var.name}-circuit-breaker"
  alarms_enabled                  = local.notifications_enabled ? var.breaker_alarms : { execution_failed = false, open_too_long = false, trigger_failed = false }
  open_alarm_seconds              = var.open_alarm_after_seconds
  tags                            = var.tags

  depends_on = [aws_sns_topic_policy.this]
}
