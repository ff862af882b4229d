# The circuit breaker's Step Functions state machine (STANDARD: it waits for minutes to hours), its
# role and its execution log group. The definition is rendered from the *.asl.yaml.tftpl files
# (one per concern: see local.phase_files).
locals {
  notifications_enabled = var.notifications_enabled
  events_enabled        = var.transition_event_bus_arn != null
  rejitter_enabled      = var.rejitter_enabled
  half_open_enabled     = var.half_open_max_concurrency != null
  queue_is_fifo         = endswith(var.queue_arn, ".fifo")

  # Execution history quota: a STANDARD execution fails, uncatchably, when its history reaches
  # 25,000 events (the circuit would stay open with nobody acting). An episode has no bound on its
  # loops (give_up_action = stay_open probes until the retention guard closes; a long watch polls
  # for alarm_watch_seconds; a closed circuit re-opens on a second wave), so every probe loop and
  # every watch poll reads the execution's own event count (GetExecutionHistory, newest event)
  # and, past this many events, hands the episode over to a successor execution (a fresh history,
  # the same lease). The headroom (25,000 - this) is more than the longest stretch of events
  # between two measurements, every retry taken: scripts/check_asl.py computes that stretch on
  # every rendered definition and fails `make lint` when it does not fit.
  handover_events = 20000
  # Single flight: the lease (lease.tf). An alarm execution that finds it held by a running
  # execution tries again this many times, this many seconds apart, before it gives its alarm
  # event up (a duplicate): the holder may be ending right after its last look at the alarm.
  # Each wait is jittered (half of it either way), so that executions started together by one
  # alarm event do not retry in lockstep.
  # Lost races for the lease (it changed hands between a read and a conditional write) are
  # retried at most lease_attempts times.
  lease_attempts = 5
  # The watch after a close looks at the alarm once per evaluation (every period), and after
  # re-arming it waits one evaluation (CloudWatch evaluates within a period) plus a margin.
  watch_poll_seconds        = min(var.watch_seconds, var.alarm_period_seconds)
  rearm_wait_seconds        = var.alarm_period_seconds + 15
  duplicate_rechecks        = 2
  duplicate_recheck_seconds = 10
  # After a hold or a force close the command looks at the mapping again after this long (a
  # superseded execution may still be inside the one API call it started before the marker changed).
  command_settle_seconds = 10
  # A hold whose mapping is found enabled after the settle disables it again this many times at
  # most (each followed by the settle and a look); found enabled after that, the hold is
  # contested: something keeps re-enabling it, and the command fails, notified.
  hold_disable_again_limit = 1

  # Exponential backoff without multiplication in ASL: the schedule is computed here.
  #   waits[i]      = min(cap, initial * rate^i), whole seconds, i = 0 .. max_attempts-1
  #   base[i]       = floor(waits[i] / 2), spread[i] = waits[i] - base[i] (>= 1 since waits[i] >= 1)
  #   with jitter:    wait = base[i] + States.MathRandom(0, spread[i]), never more than waits[i] whether
  #                   MathRandom's end is inclusive (LocalStack) or exclusive, and never an empty range
  #   visibility[i] = waits[i] + margin (<= 43200): a message that failed probe i stays hidden until
  #                   the next probe has run, which therefore takes another message.
  #                   FIFO queues: 0. A hidden message would block its message group, so the next
  #                   probe would find the queue "empty" and close the circuit on a lie; on FIFO the
  #                   failed message is visible again at once and the next probe retries it.
  waits      = [for i in range(var.max_attempts) : max(1, floor(min(var.backoff_max_seconds, var.backoff_initial_seconds * pow(var.backoff_rate, i))))]
  base       = [for w in local.waits : floor(w / 2)]
  spread     = [for i, w in local.waits : max(1, w - local.base[i])]
  visibility = [for w in local.waits : local.queue_is_fifo ? 0 : min(43200, w + var.failure_visibility_margin_seconds)]

  schedule = {
    waits      = local.waits
    base       = local.base
    spread     = local.spread
    visibility = local.visibility
  }

  # The breaker's own retries (every Retry below): the first interval and the cap (root
  # variables breaker_retry_interval_seconds, breaker_retry_max_delay_seconds). The attempts
  # are fixed: the history budget (scripts/history_budget.py) counts them.
  retry_interval  = var.retry_interval_seconds
  retry_max_delay = var.retry_max_delay_seconds

  # Every retrier backs off exponentially from retry_interval, capped, with full jitter; the
  # retriers differ in the errors they match and in their attempts.
  backoff = {
    IntervalSeconds = local.retry_interval
    BackoffRate     = 2
    MaxDelaySeconds = local.retry_max_delay
    JitterStrategy  = "FULL"
  }
  # Then any task failure a few more times before the Catch takes over.
  retry_task_failed = merge(local.backoff, { ErrorEquals = ["States.TaskFailed"], MaxAttempts = 2 })

  # Transient and throttling errors of the AWS SDK integrations, named as Step Functions names
  # them on AWS: <Service>.<Exception>, the service in Pascal case as the AWS SDK for Java 2.x
  # spells it (Sqs, Sfn, Ssm), an error the service does not model (5xx, ThrottlingException of
  # Step Functions or SQS's 5xx) as <Service>.<Service>Exception. The harness names them so too
  # (tests/harness sfn.py: LocalStack said SQS.X) and fails each on request (make test-faults).
  retry_sdk = [
    merge(local.backoff, {
      ErrorEquals = [
        "Lambda.TooManyRequestsException", "Lambda.ServiceException", "Lambda.ResourceInUseException",
        "Lambda.ResourceConflictException", "Lambda.LambdaException", "Lambda.SdkClientException",
        "Sfn.SfnException", "Sfn.SdkClientException",
        "CloudWatch.CloudWatchException", "CloudWatch.LimitExceededException",
        "Sqs.SqsException", "Sqs.RequestThrottledException", "Sqs.SdkClientException",
        "Ssm.ThrottlingException", "Ssm.InternalServerErrorException", "Ssm.SsmException",
        "States.Timeout",
      ]
      MaxAttempts = 6
    }),
    local.retry_task_failed,
  ]

  retry_lambda = [
    merge(local.backoff, {
      ErrorEquals = [
        "Lambda.ClientExecutionTimeoutException", "Lambda.ServiceException", "Lambda.AWSLambdaException",
        "Lambda.SdkClientException", "Lambda.TooManyRequestsException", "States.Timeout",
      ]
      MaxAttempts = 6
    }),
    local.retry_task_failed,
  ]

  # The probe function's tasks (the check in Probe, LookAtAlarm, ...): a read it could not make
  # (lambda_src/probe/loop.py: CheckError, after the SDK's own 3 attempts) is retried as often as an
  # SDK task's throttling, so that a short outage of one API does not take the failure path (which
  # closes the circuit on a function that may still fail).
  retry_check = [
    # a forged or stale successor input: refused at once, never retried (lambda_src/probe/handover.py)
    { ErrorEquals = ["InvalidContinuation"], MaxAttempts = 0, IntervalSeconds = 1 },
    local.retry_lambda[0],
    merge(local.backoff, { ErrorEquals = ["CheckError"], MaxAttempts = 6 }),
    local.retry_task_failed,
  ]

  # The lease's conditional writes: a failed condition is an answer (someone else holds the lease),
  # never retried; throttling and 5xx are (Step Functions names the optimized integration's errors
  # DynamoDB.<the AWS SDK for Java exception>, always ending in Exception).
  retry_lease = [
    {
      ErrorEquals     = ["DynamoDB.ConditionalCheckFailedException"]
      MaxAttempts     = 0
      IntervalSeconds = 1
    },
    merge(local.backoff, {
      ErrorEquals = [
        "DynamoDB.ProvisionedThroughputExceededException", "DynamoDB.ThrottlingException",
        "DynamoDB.RequestLimitExceededException", "DynamoDB.InternalServerErrorException",
        "DynamoDB.AmazonDynamoDBException", "DynamoDB.SdkClientException", "States.Timeout",
      ]
      MaxAttempts = 6
    }),
    local.retry_task_failed,
  ]

  retry_notify = [merge(local.backoff, { ErrorEquals = ["States.TaskFailed", "States.Timeout"], MaxAttempts = 3 })]

  # A task's timeout and retries, merged into it by its template with YAML's merge key
  # (`<<: ${sdk_call}`): one line per task, and no task without either. A task never writes a key
  # its merge provides (which one would win depends on the YAML implementation; a unit test checks).
  #   sdk_call     an AWS SDK integration (the mappings, CloudWatch, Step Functions)
  #   lease_write  a conditional write to the lease (a failed condition is an answer)
  #   notify_call  a notification or a transition event (best effort)
  #   probe_call   a task of the probe function (lambda:invoke): its answer is the state
  task_defaults = {
    sdk_call    = { TimeoutSeconds = var.sdk_timeout_seconds, Retry = local.retry_sdk }
    lease_write = { TimeoutSeconds = var.sdk_timeout_seconds, Retry = local.retry_lease }
    notify_call = { TimeoutSeconds = var.sdk_timeout_seconds, Retry = local.retry_notify }
    probe_call = {
      TimeoutSeconds = var.probe_timeout_seconds + 60, Retry = local.retry_check, ResultPath = "$", OutputPath = "$.Payload"
    }
  }

  recovery_start = local.rejitter_enabled ? "EnableRejitter" : local.after_rejitter
  # The failure path's last step: a metric alarm is re-armed (one the module created at once, one
  # brought by the caller once read: it may be composite, which is never re-armed).
  failure_rearm  = var.alarm_is_metric ? "FailureResetAlarm" : "FailureReadAlarm"
  after_rejitter = local.half_open_enabled ? "OpenHalfway" : "CloseCircuit"
  stay_open      = var.give_up_action == "stay_open"

  # Notifications. Every Notify* state exists whether or not a topic is configured (a Pass state
  # without one), so the graph is the same in both cases. Publishing is best effort: a failed
  # notification is recorded in $.notificationError and the episode goes on.
  # Format strings contain no ' { } \ (they would need escaping); the circuit name and mapping UUID
  # are validated to [A-Za-z0-9_-].
  notifications = {
    NotifyOpened = {
      state   = "OPEN"
      subject = "OPEN"
      text    = "Circuit ${var.circuit_name} is OPEN ({}): event source mapping ${var.mapping_uuid} was disabled (its state when the episode began: {}). The function is probed with backoff until it recovers. Execution: {}"
      args    = ["$.tracking.openReason", "$.original.state", "$.singleFlight.self"]
      # the first wait (0 s when its guard is exceeded: the Probe task then gives up at once)
      next = "WaitBeforeProbe"
    }
    NotifyGaveUp = {
      state   = local.stay_open ? "OPEN" : "CLOSING"
      subject = local.stay_open ? "GAVE UP, STAYS OPEN" : "GAVE UP, CLOSING"
      text = join(" ", [
        "Circuit ${var.circuit_name}: giving up after {} unhealthy probes (last probe: {}).",
        local.stay_open
        ? "The circuit STAYS OPEN (give_up_action = stay_open): event source mapping ${var.mapping_uuid} stays disabled while the breaker keeps probing every ${local.waits[length(local.waits) - 1]} s or so. It closes by itself after a healthy probe, and at the latest before the backlog could outlive the queue retention period. To close earlier, fix the function (the next probe closes) or re-enable the mapping by hand. Execution: {}"
        : "The circuit is being CLOSED (give_up_action = close). Execution: {}",
      ])
      args = ["$.episode.attempt", "States.JsonToString($.probe.result)", "$.singleFlight.self"]
      # stay_open: the probe recorded that the episode stays open ($.episode.stayingOpen, the
      # limit is not judged again) and the guard of the next wait; back into the loop.
      next = local.stay_open ? "WaitBeforeProbe" : "MarkLeaseClosing"
      # Nobody was told that the circuit stays open: it must not (close instead).
      catch_next = local.stay_open ? "GaveUpNotificationFailed" : "MarkLeaseClosing"
    }
    NotifyRetentionGiveUp = {
      state   = "CLOSING"
      subject = "GAVE UP (RETENTION), CLOSING"
      text    = "Circuit ${var.circuit_name}: giving up after {} s (episode time, or the age of the last message that failed a probe) so that the backlog does not outlive the queue retention period of {} s (safety margin ${var.retention_margin_seconds} s). The circuit is being CLOSED."
      args    = ["$.episode.elapsedSeconds", "$.queue.retentionSeconds"]
      next    = "MarkLeaseClosing"
    }
    NotifyClosed = {
      phase   = "CLOSED"
      state   = "CLOSED"
      subject = "CLOSED"
      text    = "Circuit ${var.circuit_name} is CLOSED (reason: {}{}): event source mapping ${var.mapping_uuid} was re-enabled with its previous settings. After a healthy, empty, overridden or forced close the execution watches the alarm for ${var.watch_seconds} s and re-opens the circuit if the function fails again. Execution: {}"
      args    = ["$.closeReason.reason", "$.closeReason.note", "$.singleFlight.self"]
      # The first look after the close says it too (CircuitState 0, the CLOSED event), then
      # watches, ends, or verifies a close command's close (lambda_src/probe/look.py).
      next = "LookAtAlarm"
    }
    NotifyFailure = {
      state   = "CLOSING"
      subject = "ERROR, CLOSING"
      text    = "Circuit ${var.circuit_name}: unexpected error {}. Closing the circuit (re-enabling event source mapping ${var.mapping_uuid}), the defined state after an error. Execution: {}"
      args    = ["States.JsonToString($.error)", "$.singleFlight.self"]
      next    = local.rejitter_enabled ? "FailureDisableRejitter" : "FailureCloseCircuit"
    }
    NotifyClosedAfterFailure = {
      state   = "CLOSED"
      subject = "CLOSED AFTER ERROR"
      text    = "Circuit ${var.circuit_name} was CLOSED after an unexpected error: {}. A metric alarm is re-armed, so that it opens the circuit again while the function fails; a composite alarm cannot be re-armed (SetAlarmState would hold it until a child changes), so the circuit opens again when the composite alarm next enters ALARM. Execution: {}"
      args    = ["States.JsonToString($.error)", "$.singleFlight.self"]
      next    = local.failure_rearm
    }
    NotifyManualActionRequired = {
      state   = "OPEN"
      subject = "STAYS OPEN, MANUAL ACTION REQUIRED"
      text    = "Circuit ${var.circuit_name} stays OPEN: manual action required. After the error {} closing failed too: {}. Re-enable event source mapping ${var.mapping_uuid} by hand${local.rejitter_enabled ? " and disable the rejitter mapping ${var.rejitter_mapping_uuid}" : ""}. Execution: {}"
      args    = ["States.JsonToString($.error)", "States.JsonToString($.recoveryError)", "$.singleFlight.self"]
      next    = "OpenManualActionRequired"
    }
    NotifyHeld = {
      state   = "HELD OPEN"
      subject = "HELD OPEN"
      text    = "Circuit ${var.circuit_name} is HELD OPEN by {}: {}. Event source mapping ${var.mapping_uuid} is disabled (its state before the hold: {}) and stays disabled, with no probing and no automatic close, until an operator closes it (sqs-circuit-breaker close ${var.circuit_name}). Alarms are ignored while the circuit is held. Execution: {}"
      args    = ["$.requestedBy", "$.reason", "$.original.state", "$.singleFlight.self"]
      next    = "SettleAfterCommand"
    }
    NotifyCommandFailed = {
      state   = "UNKNOWN"
      subject = "COMMAND FAILED"
      text    = "Circuit ${var.circuit_name}: the operator command {} requested by {} failed: {}. The circuit may be part-way: run sqs-circuit-breaker status ${var.circuit_name}. Execution: {}"
      args    = ["$.command", "$.requestedBy", "States.JsonToString($.error)", "$$.Execution.Id"]
      next    = "CommandFailed"
    }
    NotifyFailedBeforeOpen = {
      state   = "CLOSED"
      subject = "ERROR, NOT OPENED"
      text    = "Circuit ${var.circuit_name} could not be opened: {}. The event source mapping ${var.mapping_uuid} was not changed."
      args    = ["States.JsonToString($.error)"]
      next    = "FailedBeforeOpen"
    }
  }

  # Transition events (transition_event_bus): after the notification of a transition, its
  # Announce<Name> state puts a "Circuit State Change" event on the bus (events.asl.yaml.tftpl).
  # The probe function announces the transitions its tasks decide, with the same schema
  # (lambda_src/probe/transitions.py): OPEN -> HALF-OPEN and back around every probe, the open
  # and the hold (ClaimEpisode), the close and the re-open (LookAtAlarm), the give-ups
  # (the Probe task, or the task that started an episode whose first wait exceeds the retention
  # guard), each before the notification that follows: these three carry no probe attempt
  # (attempt: null). A value that starts with "$" (or "States.") is a path of the state's input
  # (or an intrinsic), anything else a literal. Every path must exist
  # on every way into the state (a missing one fails the execution). The close's event names the
  # state it closed from: `make asl` (scripts/check_asl.py, transition_problems) checks that every
  # close reason written in the definition has `from`; the probe function's close reasons are
  # lambda_src/probe/loop.py's, checked by tests/unit/test_probe_loop.py.
  announcements = !local.events_enabled ? {} : merge(
    {
      AnnounceClosedAfterFailure = {
        phase = "CLOSED", from = "OPEN", to = "CLOSED", reason = "error", note = "States.JsonToString($.error)"
        next  = local.notifications.NotifyClosedAfterFailure.next
      }
      AnnounceManualActionRequired = {
        phase = "OPEN", from = "OPEN", to = "OPEN", reason = "manual_action_required"
        note  = "States.JsonToString($.recoveryError)"
        next  = local.notifications.NotifyManualActionRequired.next
      }
    },
    local.half_open_enabled ? {
      AnnounceRamp = {
        phase = "HALF-OPEN", from = "HALF-OPEN", to = "HALF-OPEN", reason = "ramp"
        note  = "MaximumConcurrency ${coalesce(var.half_open_max_concurrency, 0)} for ${var.half_open_seconds} s"
        next  = "HalfOpenWindow"
      }
    } : {},
  )
  # A notification followed by its announcement, whether the notification was published or not:
  # only a give-up that stays open goes elsewhere when nobody could be told (it closes instead,
  # and the close's event says so).
  announced = { for name, a in local.announcements : replace(name, "Announce", "Notify") => name }
  notifications_wired = {
    for name, n in local.notifications : name => merge(n, contains(keys(local.announced), name) ? {
      next       = local.announced[name]
      catch_next = lookup(n, "catch_next", n.next) == n.next ? local.announced[name] : n.catch_next
    } : {})
  }
  # Rendered even when there are none ({}): a conditional with {} would convert every
  # value to one type (numbers to strings).
  announcement_states = yamldecode(templatefile("${path.module}/events.asl.yaml.tftpl", {
    # each event's from, to, reason and note, a path's key ending in ".$" (merged into its Detail)
    announcements = { for name, a in local.announcements : name => merge(a, {
      fields = { for f in ["from", "to", "reason", "note"] : (startswith(a[f], "$") || startswith(a[f], "States.") ? "${f}.$" : f) => a[f] }
    }) }
    circuit_name  = var.circuit_name
    partition     = var.partition
    event_bus_arn = coalesce(var.transition_event_bus_arn, "none")
    mapping_uuid  = var.mapping_uuid
    queue_arn     = var.queue_arn
    notify_call   = jsonencode(local.task_defaults.notify_call)
  }))

  # The Notify* states: notifications.asl.yaml.tftpl, rendered with the texts above and merged into
  # the main definition's States.
  console_host = {
    aws          = "${var.region}.console.aws.amazon.com"
    "aws-cn"     = "console.amazonaws.cn"
    "aws-us-gov" = "console.amazonaws-us-gov.com"
  }[var.partition]
  notification_states = yamldecode(templatefile("${path.module}/notifications.asl.yaml.tftpl", {
    notifications     = local.notifications_wired
    enabled           = local.notifications_enabled
    json_format       = var.notification_format == "json"
    circuit_name      = var.circuit_name
    partition         = var.partition
    region            = var.region
    console_host      = local.console_host
    topic_arn         = var.sns_topic_arn
    mapping_uuid      = var.mapping_uuid
    state_machine_arn = local.state_machine_arn
    alarm_name        = var.alarm_name
    function_name     = element(split(":", var.target_function_arn), 6)
    notify_call       = jsonencode(local.task_defaults.notify_call)
  }))

  # The definition: one templated ASL file per concern, each a map of states, rendered with
  # templatefile and merged with the notification and announcement states (one way of writing ASL).
  # The files are ASL in its YAML form (as the AWS Toolkit and SAM read it), decoded by yamldecode:
  # the deployed definition is JSON, the same whichever form the file has. Write plain values that
  # YAML could read as something else quoted ("1", "on", "no", "null", "N": YAML 1.1 reads N as
  # false); make asl renders every file and checks the result.
  #   open.asl.yaml.tftpl     how the circuit opens: single flight, the mapping's settings, disable
  #   probe.asl.yaml.tftpl    the probe loop (its decisions: lambda_src/probe/loop.py) and giving up
  #   close.asl.yaml.tftpl    how the circuit closes: recovery (rejitter, ramp), close, the watch, re-open
  #   command.asl.yaml.tftpl  operator commands: hold (timed or not) and force close
  #   failure.asl.yaml.tftpl  when a step of the breaker itself fails: close if it can, say why
  #   episode.asl.yaml.tftpl  one episode at a time: superseded, history hand-over
  # A state name defined in two files is refused at plan (the state machine's precondition).
  phase_files  = ["open", "probe", "close", "command", "failure", "episode"]
  phase_states = [for f in local.phase_files : yamldecode(templatefile("${path.module}/${f}.asl.yaml.tftpl", local.template_vars))]
  state_names  = flatten([for states in concat(local.phase_states, [local.notification_states, local.announcement_states]) : keys(states)])
  definition = jsonencode({
    Comment       = "SQS circuit breaker ${var.circuit_name}: open (disable the event source mapping), probe with exponential backoff, close. JSONPath query language only."
    QueryLanguage = "JSONPath"
    StartAt       = "RouteCommand"
    States        = merge(concat(local.phase_states, [local.notification_states, local.announcement_states])...)
  })

  # The probe function's task configuration, one block per parser (lambda_src/probe: ClaimConfig
  # reads claim, OpenConfig open, CheckConfig check, and so on), each rendered into its task's
  # payload by one line (`claim: ${probe.claim}`), so that the templates show what each task is
  # given and this shows the values. A key ending in ".$" is a path the task's Parameters evaluate.
  transition_events = {
    eventBusName = coalesce(var.transition_event_bus_arn, "none"), circuit = var.circuit_name
    "episode.$"  = "$$.Execution.Id", mapping = var.mapping_uuid
  }
  probe_blocks = {
    claim = {
      leaseTable    = local.lease_table_name, circuit = var.circuit_name, controlParameter = local.control_parameter_name
      leaseAttempts = local.lease_attempts, rechecks = local.duplicate_rechecks
      # MathRandom's end is exclusive on AWS, inclusive on LocalStack: either way within [5, 15].
      recheckMinSeconds = floor(local.duplicate_recheck_seconds / 2)
      recheckMaxSeconds = local.duplicate_recheck_seconds + floor(local.duplicate_recheck_seconds / 2)
    }
    open = {
      mappingUuid        = var.mapping_uuid, queueUrl = var.queue_url, queueArn = var.queue_arn
      functionArn        = var.target_function_arn, retentionMarginSeconds = var.retention_margin_seconds
      settingsParameter  = local.settings_parameter_name
      rampMaxConcurrency = local.half_open_enabled ? var.half_open_max_concurrency : null
    }
    episode = {
      maxAttempts        = var.max_attempts, openWaitSeconds = var.open_wait_seconds, schedule = local.schedule
      probeBudgetSeconds = var.probe_timeout_seconds
    }
    state_metric      = { namespace = var.metric_namespace, circuit = var.circuit_name }
    transition_events = merge(local.transition_events, { queue = var.queue_arn })
    check = {
      "execution.$" = "$$.Execution.Id", handoverEvents = local.handover_events, leaseTable = local.lease_table_name
      circuit       = var.circuit_name, mappingUuid = var.mapping_uuid, metricNamespace = var.metric_namespace
    }
    loop  = { giveUpAction = var.give_up_action, jitter = var.backoff_jitter, probeBudgetSeconds = var.probe_timeout_seconds }
    lease = { leaseTable = local.lease_table_name, circuit = var.circuit_name }
    recovery_metric = local.recovery_start == "CloseCircuit" ? null : {
      namespace = var.metric_namespace, circuit = var.circuit_name
    }
    request = merge({
      # the function, its response types and the mapping: the probe task reads them from $.original
      queueUrl   = var.queue_url, queueArn = var.queue_arn, probeMode = var.probe_mode, syntheticBody = var.synthetic_body
      slowCallMs = var.slow_call_duration_threshold_ms, waitTimeSeconds = var.probe_wait_time_seconds
    }, local.events_enabled ? { transitionEvents = local.transition_events } : {})
    watch = {
      "execution.$" = "$$.Execution.Id", handoverEvents = local.handover_events, leaseTable = local.lease_table_name
      circuit       = var.circuit_name, alarmName = var.alarm_name, polls = ceil(var.watch_seconds / local.watch_poll_seconds)
      pollSeconds   = local.watch_poll_seconds, rearmWaitSeconds = local.rearm_wait_seconds, tellsClose = true
    }
    verify = {
      controlParameter  = local.control_parameter_name, mappingUuid = var.mapping_uuid
      disableAgainLimit = local.hold_disable_again_limit
    }
  }

  template_vars = {
    circuit_name              = var.circuit_name
    partition                 = var.partition
    state_machine_arn         = local.state_machine_arn
    mapping_uuid              = var.mapping_uuid
    queue_arn                 = var.queue_arn
    probe_function_arn        = var.probe_function_arn
    probe_budget_seconds      = var.probe_timeout_seconds
    open_wait_seconds         = var.open_wait_seconds
    schedule                  = local.schedule
    jitter                    = var.backoff_jitter
    max_attempts              = var.max_attempts
    handover_events           = local.handover_events
    lease_table_name          = local.lease_table_name
    duplicate_rechecks        = local.duplicate_rechecks
    duplicate_recheck_seconds = local.duplicate_recheck_seconds
    watch_seconds             = var.watch_seconds
    watch_poll_seconds        = local.watch_poll_seconds
    rearm_wait_seconds        = local.rearm_wait_seconds
    retention_margin_seconds  = var.retention_margin_seconds
    give_up_action            = var.give_up_action
    notifications_enabled     = local.notifications_enabled
    events_enabled            = local.events_enabled
    half_open_enabled         = local.half_open_enabled
    half_open_max_concurrency = local.half_open_enabled ? var.half_open_max_concurrency : 0
    half_open_seconds         = var.half_open_seconds
    rejitter_enabled          = local.rejitter_enabled
    rejitter_mapping_uuid     = local.rejitter_enabled ? var.rejitter_mapping_uuid : ""
    rejitter_window_seconds   = var.rejitter_window_seconds
    recovery_start            = local.recovery_start
    metric_namespace          = var.metric_namespace
    alarm_name                = var.alarm_name
    alarm_is_metric           = var.alarm_is_metric
    sdk_call                  = jsonencode(local.task_defaults.sdk_call)
    lease_write               = jsonencode(local.task_defaults.lease_write)
    probe_call                = jsonencode(local.task_defaults.probe_call)
    probe                     = { for name, block in local.probe_blocks : name => jsonencode(block) }
    settings_parameter_name   = local.settings_parameter_name
    command_settle_seconds    = local.command_settle_seconds
    hold_disable_again_limit  = local.hold_disable_again_limit
  }
}

# ---- Logging ----------------------------------------------------------------------------------
resource "aws_cloudwatch_log_group" "this" {
  # The /aws/vendedlogs/ prefix keeps the log delivery resource policy small (AWS recommendation).
  name              = "/aws/vendedlogs/states/${var.state_machine_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

# ---- State machine ----------------------------------------------------------------------------
locals {
  # Built from the name (not the resource's attribute) so that the role's policy, which the state
  # machine depends on, can name the state machine without a dependency cycle.
  state_machine_arn = "arn:${var.partition}:states:${var.region}:${var.account_id}:stateMachine:${var.state_machine_name}"
}

resource "aws_sfn_state_machine" "this" {
  name       = var.state_machine_name
  type       = "STANDARD"
  role_arn   = aws_iam_role.this.arn
  definition = local.definition

  lifecycle {
    precondition {
      condition     = length(local.state_names) == length(distinct(local.state_names))
      error_message = "A state is defined in two ASL files of modules/state-machine: ${join(", ", [for n in distinct(local.state_names) : n if length([for m in local.state_names : m if m == n]) > 1])}."
    }
  }

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.this.arn}:*"
    include_execution_data = var.log_include_execution_data
    level                  = var.log_level
  }

  tracing_configuration {
    enabled = var.tracing_enabled
  }

  dynamic "encryption_configuration" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]

    content {
      type                              = "CUSTOMER_MANAGED_KMS_KEY"
      kms_key_id                        = encryption_configuration.value
      kms_data_key_reuse_period_seconds = var.kms_data_key_reuse_period_seconds
    }
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.this, aws_ssm_parameter.control, aws_ssm_parameter.settings, aws_dynamodb_table.lease]
}
