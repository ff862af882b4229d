# Optional features: each flag adds exactly its states and resources.
mock_provider "aws" {
  source = "./tests/module/mocks"
}

variables {
  name                      = "orders"
  function_name             = "orders-consumer"
  event_source_mapping_uuid = "0f6e1d2c-3b4a-4958-8a7b-6c5d4e3f2a1b"
  queue_arn                 = "arn:aws:sqs:eu-west-1:123456789012:orders"
  queue_url                 = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders"
}

run "defaults_have_no_optional_features" {
  command = apply

  assert {
    condition     = length(setintersection(keys(jsondecode(output.state_machine_definition).States), ["EnableRejitter", "RejitterWindow", "DisableRejitter", "FailureDisableRejitter", "OpenHalfway", "HalfOpenWindow"])) == 0
    error_message = "rejitter/ramp states rendered although both are off"
  }
  assert {
    condition     = one([for c in jsondecode(output.state_machine_definition).States.AfterProbe.Choices : c.Next if try(c.StringEquals, "") == "recover"]) == "CloseCircuit" && jsondecode(output.state_machine_definition).States.Probe.Parameters.Payload.recoveryMetric == null && jsondecode(output.state_machine_definition).States.Probe.Parameters.Payload.lease.leaseTable == "orders-cb-lease" && jsondecode(output.state_machine_definition).States.Probe.Parameters.Payload.lease.circuit == "orders"
    error_message = "without rejitter and ramp, a healthy probe goes straight to CloseCircuit"
  }
  assert {
    condition     = alltrue([for k, s in jsondecode(output.state_machine_definition).States : s.Type == "Task" && s.Parameters.TopicArn == "arn:aws:sns:eu-west-1:123456789012:orders-circuit-breaker" if startswith(k, "Notify")])
    error_message = "notifications are on by default: every Notify* state publishes to the created topic"
  }
  assert {
    condition     = output.rejitter_function_arn == null && output.rejitter_event_source_mapping_uuid == null && length(module.rejitter) == 0
    error_message = "no rejitter resources by default"
  }
  assert {
    condition     = length(aws_lambda_event_source_mapping.rejitter) == 0
    error_message = "no rejitter mapping by default"
  }
  assert {
    condition     = length(aws_sns_topic.this) == 1 && length(aws_sns_topic_policy.this) == 1 && output.sns_topic_arn == "arn:aws:sns:eu-west-1:123456789012:orders-circuit-breaker"
    error_message = "a topic (with its policy) is created by default"
  }
  assert {
    condition     = length(module.alarm) == 1 && output.alarm_name == "orders-cb-error-rate"
    error_message = "the alarm is created by default"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.NotifyGaveUp.Next == "WaitBeforeProbe" && jsondecode(output.state_machine_definition).States.Probe.Parameters.Payload.loop.giveUpAction == "stay_open"
    error_message = "give_up_action defaults to stay_open"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).QueryLanguage == "JSONPath"
    error_message = "JSONPath only (no JSONata)"
  }
  assert {
    condition     = !strcontains(output.state_machine_definition, "JSONata") && !strcontains(output.state_machine_definition, "{%")
    error_message = "no JSONata expression may appear"
  }
}

run "default_alarm_and_trigger" {
  command = apply

  assert {
    condition     = one([for q in module.alarm[0].metric_queries : q.expression if q.id == "error_rate"]) == "IF(m2 >= 5, 100 * FILL(m1, 0) / m2, 0)"
    error_message = "alarm expression"
  }
  assert {
    condition     = [for q in module.alarm[0].metric_queries : q.id if q.return_data] == ["error_rate"]
    error_message = "only the expression returns data"
  }
  assert {
    condition     = toset([for q in module.alarm[0].metric_queries : "${q.id}=${q.metric_name}/${q.period}" if q.metric_name != null]) == toset(["m1=Errors/60", "m2=Invocations/60"])
    error_message = "m1 = Errors, m2 = Invocations, period 60"
  }
  assert {
    condition     = module.alarm[0].treat_missing_data == "notBreaching"
    error_message = "treat_missing_data"
  }
  assert {
    condition = jsondecode(module.trigger.event_pattern) == {
      source        = ["aws.cloudwatch"]
      "detail-type" = ["CloudWatch Alarm State Change"]
      resources     = ["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:orders-cb-error-rate"]
      detail        = { state = { value = ["ALARM"] } }
    }
    error_message = "event pattern"
  }
}

run "existing_alarm_creates_none" {
  command = apply

  variables {
    existing_alarm = {
      arn  = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:mine"
      name = "mine"
    }
  }

  assert {
    condition     = length(module.alarm) == 0 && output.alarm_arn == "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:mine"
    error_message = "an existing alarm is used, none created"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.LookAtAlarm.Parameters.Payload.watch.alarmName == "mine" && jsonencode(one([for st in output.iam_policy_statements.probe : st.resources if st.sid == "WatchAndRearmAlarm"])) == jsonencode(["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:mine"])
    error_message = "the watch after a close reads and re-arms the caller's alarm"
  }
  assert {
    # A caller's alarm may be composite: the failure path reads it before any SetAlarmState.
    condition = [for n in ["NotifyClosedAfterFailure", "FailureReadAlarm", "FailureResetAlarm"] : jsondecode(output.state_machine_definition).States[n].Next] == [
      "FailureReadAlarm", "IsFailureAlarmMetric", "ClosedAfterFailure",
    ] && contains(one([for st in output.iam_policy_statements.state_machine : st.actions if st.sid == "WatchAndRearmAlarm"]), "cloudwatch:DescribeAlarms") && jsondecode(output.state_machine_definition).States.IsFailureAlarmMetric.Choices[0] == { Variable = "$.failureAlarm.metric[0].AlarmName", IsPresent = true, Next = "FailureResetAlarm" } && jsondecode(output.state_machine_definition).States.IsFailureAlarmMetric.Default == "ClosedAfterFailure" && jsondecode(output.state_machine_definition).States.FailureReadAlarm.Catch[0].Next == "ClosedAfterFailure"
    error_message = "the failure path re-arms a caller's alarm only once read as a metric alarm (a composite one is never set)"
  }
  assert {
    condition     = strcontains(module.trigger.event_pattern, "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:mine")
    error_message = "the rule listens to the caller's alarm"
  }
}

run "rejitter" {
  command = apply

  variables {
    rejitter_enabled           = true
    rejitter_window_seconds    = 42
    rejitter_min_delay_seconds = 5
    rejitter_max_delay_seconds = 60
  }

  assert {
    condition     = alltrue([for s in ["EnableRejitter", "RejitterWindow", "DisableRejitter", "FailureDisableRejitter"] : contains(keys(jsondecode(output.state_machine_definition).States), s)])
    error_message = "rejitter states missing"
  }
  assert {
    condition     = one([for c in jsondecode(output.state_machine_definition).States.AfterProbe.Choices : c.Next if try(c.StringEquals, "") == "recover"]) == "EnableRejitter" && jsondecode(output.state_machine_definition).States.Probe.Parameters.Payload.recoveryMetric == { namespace = "SqsCircuitBreaker", circuit = "orders" } && jsondecode(output.state_machine_definition).States.DisableRejitter.Next == "CloseCircuit"
    error_message = "the rejitter runs before closing"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.RejitterWindow.Seconds == 42 && jsondecode(output.state_machine_definition).States.RejitterWindow.Next == "MarkLeaseRecovering" && jsondecode(output.state_machine_definition).States.MarkLeaseRecovering.Next == "DisableRejitter" && jsondecode(output.state_machine_definition).States.MarkLeaseRecovering.Catch[0].Next == "Superseded"
    error_message = "rejitter window, then the gate (superseded: end untouched), then the rejitter off"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.EnableRejitter.Parameters.Uuid == "11111111-2222-4333-8444-555555555555"
    error_message = "the state machine toggles the rejitter's own mapping"
  }
  assert {
    condition     = aws_lambda_event_source_mapping.rejitter[0].enabled == false && aws_lambda_event_source_mapping.rejitter[0].function_response_types == toset(["ReportBatchItemFailures"])
    error_message = "the rejitter mapping is created disabled, with ReportBatchItemFailures"
  }
  assert {
    condition     = aws_lambda_event_source_mapping.rejitter[0].event_source_arn == var.queue_arn
    error_message = "the rejitter reads the protected queue"
  }
  assert {
    condition     = output.rejitter_function_name == "orders-cb-rejitter"
    error_message = "rejitter function name"
  }
}

run "half_open_ramp" {
  command = apply

  variables {
    half_open_max_concurrency = 3
    half_open_seconds         = 17
  }

  assert {
    condition     = jsondecode(output.state_machine_definition).States.OpenHalfway.Parameters.ScalingConfig.MaximumConcurrency == 3
    error_message = "ramp concurrency"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.HalfOpenWindow.Seconds == 17 && jsondecode(output.state_machine_definition).States.HalfOpenWindow.Next == "MarkLeaseClosing"
    error_message = "ramp window then close"
  }
  assert {
    condition     = one([for c in jsondecode(output.state_machine_definition).States.AfterProbe.Choices : c.Next if try(c.StringEquals, "") == "recover"]) == "OpenHalfway" && jsondecode(output.state_machine_definition).States.Probe.Parameters.Payload.recoveryMetric.namespace == "SqsCircuitBreaker"
    error_message = "healthy goes to the ramp"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.CloseCircuit.Parameters["ScalingConfig.$"] == "$.original.scalingConfig"
    error_message = "close restores the remembered ScalingConfig"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.ClaimEpisode.Parameters.Payload.open.rampMaxConcurrency == 3 && jsondecode(output.state_machine_definition).States.ClaimEpisode.Parameters.Payload.open.settingsParameter == output.settings_parameter_name
    error_message = "an open that finds the ramp's concurrency on the mapping restores the settings recorded at the last open"
  }
  assert {
    condition     = jsonencode(one([for s in output.iam_policy_statements.probe : s.resources if s.sid == "RecordedSettings"])) == jsonencode(["arn:aws:ssm:eu-west-1:123456789012:parameter${output.settings_parameter_name}"])
    error_message = "the probe records the settings at the open, and may read them (only with a ramp)"
  }
}

run "rejitter_then_ramp" {
  command = apply

  variables {
    rejitter_enabled          = true
    half_open_max_concurrency = 2
  }

  assert {
    condition     = jsondecode(output.state_machine_definition).States.DisableRejitter.Next == "AfterRejitterOff" && jsondecode(output.state_machine_definition).States.AfterRejitterOff.Default == "OpenHalfway" && jsondecode(output.state_machine_definition).States.AfterRejitterOff.Choices[0].Next == "CloseCircuit" && one([for c in jsondecode(output.state_machine_definition).States.AfterClaim.Choices : c.Next if try(c.StringEquals, "") == "close"]) == "DisableRejitter"
    error_message = "rejitter, then ramp, then close; a close command turns the rejitter off and closes at once"
  }
}

run "created_topic" {
  command = apply

  variables {
    create_sns_topic = true
    sns_kms_key_arn  = "arn:aws:kms:eu-west-1:123456789012:key/abcd"
  }

  assert {
    condition     = length(aws_sns_topic.this) == 1 && aws_sns_topic.this[0].name == "orders-circuit-breaker"
    error_message = "topic created"
  }
  assert {
    condition     = alltrue([for k, s in jsondecode(output.state_machine_definition).States : s.Resource == "arn:aws:states:::sns:publish" && s.Parameters.TopicArn == "arn:aws:sns:eu-west-1:123456789012:orders-circuit-breaker" if startswith(k, "Notify")])
    error_message = "every Notify* state publishes to the topic"
  }
  assert {
    condition     = contains(flatten([for s in output.iam_policy_statements.state_machine : s.resources if contains(s.actions, "sns:Publish")]), "arn:aws:sns:eu-west-1:123456789012:orders-circuit-breaker")
    error_message = "the state machine may publish to the topic"
  }
  assert {
    condition     = contains(flatten([for s in output.iam_policy_statements.state_machine : s.resources if contains(s.actions, "kms:GenerateDataKey")]), "arn:aws:kms:eu-west-1:123456789012:key/abcd")
    error_message = "the state machine may use the topic's key"
  }
}

run "existing_topic" {
  command = apply

  variables {
    create_sns_topic = false
    sns_topic_arn    = "arn:aws:sns:eu-west-1:123456789012:ops"
  }

  assert {
    condition     = length(aws_sns_topic.this) == 0 && output.sns_topic_arn == "arn:aws:sns:eu-west-1:123456789012:ops"
    error_message = "existing topic used, none created"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.NotifyOpened.Parameters.TopicArn == "arn:aws:sns:eu-west-1:123456789012:ops"
    error_message = "notifications go to the existing topic"
  }
  assert {
    condition     = length(aws_sns_topic_policy.this) == 0 && output.execution_status_rule_arn != null
    error_message = "a given topic's policy is the caller's; the execution-status rule still notifies it"
  }
}

run "given_topic_needs_create_off" {
  command = plan

  variables {
    create_sns_topic = true
    sns_topic_arn    = "arn:aws:sns:eu-west-1:123456789012:ops"
  }

  expect_failures = [terraform_data.input_checks]
}

run "notifications_off_with_close" {
  command = apply

  variables {
    create_sns_topic = false
    give_up_action   = "close"
  }

  assert {
    condition     = alltrue([for k, s in jsondecode(output.state_machine_definition).States : s.Type == "Pass" if startswith(k, "Notify")])
    error_message = "without a topic every Notify* state is a Pass state"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.NotifyOpened.ResultPath == "$.notification" && jsondecode(output.state_machine_definition).States.NotifyOpened.Parameters.event == "OPEN" && strcontains(jsondecode(output.state_machine_definition).States.NotifyOpened.Parameters["message.$"], "is OPEN")
    error_message = "without a topic the message that would have been published is recorded in the execution's history"
  }
  assert {
    condition     = length(aws_sns_topic.this) == 0 && output.sns_topic_arn == null && output.execution_status_rule_arn == null && module.trigger.status_event_pattern == null
    error_message = "no topic, no execution-status rule"
  }
}

run "execution_status_rule" {
  command = apply

  assert {
    condition = jsondecode(module.trigger.status_event_pattern) == {
      source        = ["aws.states"]
      "detail-type" = ["Step Functions Execution Status Change"]
      detail = {
        stateMachineArn = ["arn:aws:states:eu-west-1:123456789012:stateMachine:orders-circuit-breaker"]
        status          = ["ABORTED", "TIMED_OUT", "FAILED"]
      }
    }
    error_message = "execution-status pattern: this state machine's executions ending ABORTED, TIMED_OUT or FAILED"
  }
  assert {
    condition     = module.trigger.status_rule_name == "orders-cb-status"
    error_message = "status rule name"
  }
  assert {
    condition     = jsondecode(module.trigger.status_input_template) == "Circuit orders: execution <execution> ended <status>; the event source mapping 0f6e1d2c-3b4a-4958-8a7b-6c5d4e3f2a1b may still be DISABLED: check it and re-enable it by hand if so."
    error_message = "the status message names the execution, its status and the mapping"
  }
  assert {
    condition     = strcontains(module.trigger.status_input_template, "<execution>") && strcontains(module.trigger.status_input_template, "<status>") && !strcontains(module.trigger.status_input_template, "u003c")
    error_message = "the placeholders stand as <execution> and <status>: EventBridge does not read \\u003c escapes"
  }

  assert {
    condition = anytrue([for st in data.aws_iam_policy_document.topic[0].statement :
      strcontains(jsonencode(st.actions), "sns:Publish") && strcontains(jsonencode(st.principals), "events.amazonaws.com")
      && strcontains(jsonencode(st.condition), "arn:aws:events:eu-west-1:123456789012:rule/orders-cb-status")
    ])
    error_message = "the created topic's policy lets EventBridge (this rule) publish"
  }
  assert {
    condition     = aws_sns_topic_policy.this[0].arn == aws_sns_topic.this[0].arn
    error_message = "the policy is attached to the created topic"
  }
}

run "close_path_watches_the_alarm_window" {
  command = apply

  assert {
    condition     = [for n in ["CloseCircuit", "NotifyClosed"] : jsondecode(output.state_machine_definition).States[n].Next] == ["NotifyClosed", "LookAtAlarm"] && jsondecode(output.state_machine_definition).States.LookAtAlarm.Parameters.Payload.watch.tellsClose == true
    error_message = "close path: CloseCircuit, NotifyClosed, then the first look (CircuitState 0, the CLOSED event: lambda_src/probe/look.py)"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.NotifyClosed.Catch[0].Next == "LookAtAlarm" && jsondecode(output.state_machine_definition).States.LookAtAlarm.Parameters.Payload.stateMetric.namespace == "SqsCircuitBreaker"
    error_message = "a failed notification still leads to the first look, which publishes the closed state"
  }
  assert {
    condition     = jsonencode([for c in jsondecode(output.state_machine_definition).States.AfterLook.Choices : [c.StringEquals, c.Next] if can(c.StringEquals)]) == jsonencode([["wait", "WatchAfterClose"], ["reopen", "DisableMapping"], ["closed", "Ended"], ["settle", "SettleAfterCommand"], ["hand_over", "StartSuccessor"], ["superseded", "Superseded"]])
    error_message = "the look's decisions (watch.after_close: a healthy, empty or overridden close is watched, a close command's close verified first, a give-up close ends)"
  }
  assert {
    # defaults: 60 s period, 2 evaluation periods -> (2 + 1) x 60 + 60 = 240 s, polled every 60 s
    condition     = jsondecode(output.state_machine_definition).States.WatchAfterClose.SecondsPath == "$.watch.nextWaitSeconds" && jsondecode(output.state_machine_definition).States.LookAtAlarm.Parameters.Payload.watch.pollSeconds == 60 && jsondecode(output.state_machine_definition).States.LookAtAlarm.Parameters.Payload.watch.polls == 4 && jsondecode(output.state_machine_definition).States.LookAtAlarm.Parameters.Payload.watch.rearmWaitSeconds == 75
    error_message = "the watch covers the alarm's window, one evaluation and Lambda's metric delay"
  }
  assert {
    # What a look decides (a fresh ALARM re-opens; a stale one is re-armed once; a composite one
    # never) is lambda_src/probe/watch.py's, tested in tests/unit/test_watch.py; the definition
    # routes on it.
    condition     = [for c in jsondecode(output.state_machine_definition).States.AfterLook.Choices : c.Next] == ["InvalidProbeResult", "WatchAfterClose", "DisableMapping", "Ended", "SettleAfterCommand", "StartSuccessor", "Superseded"] && jsondecode(output.state_machine_definition).States.LookAtAlarm.ResultPath == "$" && jsondecode(output.state_machine_definition).States.LookAtAlarm.OutputPath == "$.Payload"
    error_message = "the watch re-opens on fresh ALARM and re-arms a stale one once"
  }
  assert {
    condition     = one([for c in jsondecode(output.state_machine_definition).States.AfterLook.Choices : c.Next if try(c.StringEquals, "") == "reopen"]) == "DisableMapping" && jsondecode(output.state_machine_definition).States.LookAtAlarm.Parameters.Payload.watch.leaseTable == "orders-cb-lease" && !can(jsondecode(output.state_machine_definition).States.ClaimEpisodeFromWatch)
    error_message = "re-opening leaves the watch phase of the lease first (LookAtAlarm's conditional write: a concurrent takeover wins or loses as a whole), then goes back through DisableMapping"
  }
  assert {
    # A second wave: an alarm that entered ALARM after the close re-opens at the next look
    # (watch.py compares its last transition with the close time, $.closed.at, which the first
    # look records in $.watch.closedAt).
    condition     = jsondecode(output.state_machine_definition).States.CloseCircuit.ResultPath == "$.closed" && jsondecode(output.state_machine_definition).States.CloseCircuit.ResultSelector["at.$"] == "$$.State.EnteredTime"
    error_message = "the watch compares the alarm's last transition with the close time"
  }
  assert {
    # The alarm execution that a second wave starts during the watch takes the episode over when
    # its event is newer than the close (the watch's first look writes watch and since when:
    # lambda_src/probe/step.py): the claim decides (lambda_src/probe/claim.py, unit-tested).
    condition     = jsondecode(output.state_machine_definition).States.LookAtAlarm.Parameters.Payload.watch.leaseTable == "orders-cb-lease" && jsondecode(output.state_machine_definition).States.ClaimEpisode.Parameters.Payload.claim.leaseTable == "orders-cb-lease"
    error_message = "a second wave during the watch takes the episode over from the watching execution"
  }
  assert {
    # SetAlarmState on a composite alarm holds it in the set state until a child changes: the only
    # state that calls it re-arms the alarm the module created, a metric alarm, without reading
    # it (a caller's alarm is read first: existing_alarm_creates_none; the watch's re-arm, in
    # watch.py, also only for a metric alarm).
    condition = alltrue([
      for name, state in jsondecode(output.state_machine_definition).States :
      name == "FailureResetAlarm" if try(state.Resource, "") == "arn:aws:states:::aws-sdk:cloudwatch:setAlarmState"
    ]) && !can(jsondecode(output.state_machine_definition).States.FailureReadAlarm) && !can(jsondecode(output.state_machine_definition).States.IsFailureAlarmMetric) && jsonencode(one([for st in output.iam_policy_statements.state_machine : st.actions if st.sid == "WatchAndRearmAlarm"])) == jsonencode(["cloudwatch:SetAlarmState"])
    error_message = "SetAlarmState only in FailureResetAlarm, for the module's own (metric) alarm, which the state machine need not read"
  }
  assert {
    condition     = !contains(keys(jsondecode(output.state_machine_definition).States), "ResetAlarm")
    error_message = "no reset of the alarm right at the close (it flaps)"
  }
  assert {
    condition = [for n in ["FailureCloseCircuit", "FailurePublishClosedMetric", "NotifyClosedAfterFailure", "FailureResetAlarm"] : jsondecode(output.state_machine_definition).States[n].Next] == [
      "FailurePublishClosedMetric", "NotifyClosedAfterFailure", "FailureResetAlarm", "ClosedAfterFailure",
    ]
    error_message = "failure path: FailureCloseCircuit, FailurePublishClosedMetric, NotifyClosedAfterFailure, FailureResetAlarm (the module's metric alarm), ClosedAfterFailure"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.FailureResetAlarm.Catch[0].Next == "ClosedAfterFailure" && jsondecode(output.state_machine_definition).States.NotifyClosedAfterFailure.Catch[0].Next == "FailureResetAlarm"
    error_message = "failure path catches keep the order"
  }
}

run "give_up_close" {
  command = apply

  variables {
    give_up_action = "close"
  }

  assert {
    condition     = jsondecode(output.state_machine_definition).States.NotifyGaveUp.Next == "MarkLeaseClosing" && !contains(keys(jsondecode(output.state_machine_definition).States), "GaveUpNotificationFailed")
    error_message = "give_up_action = close closes"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.NotifyGaveUp.Catch[0].Next == "MarkLeaseClosing" && jsondecode(output.state_machine_definition).States.Probe.Parameters.Payload.loop.giveUpAction == "close"
    error_message = "give_up_action = close: no stay-open loop"
  }
}

run "stay_open_keeps_probing" {
  command = apply

  variables {
    give_up_action     = "stay_open"
    probe_max_attempts = 3
  }

  assert {
    condition     = jsondecode(output.state_machine_definition).States.NotifyGaveUp.Next == "WaitBeforeProbe" && !can(jsondecode(output.state_machine_definition).States.RetentionGuard)
    error_message = "after NotifyGaveUp the episode goes back into the probe loop (the wait is 0 s when its retention guard is exceeded, and the Probe task gives up at once)"
  }
  assert {
    condition     = jsonencode(sort([for k, s in jsondecode(output.state_machine_definition).States : k if s.Type == "Succeed" || lookup(s, "End", false)])) == jsonencode(["CloseAfterHold", "Ended", "StartSuccessor", "Superseded"]) && jsondecode(output.state_machine_definition).States.Ended.Type == "Succeed"
    error_message = "the episode ends well only as Ended (closed, held, duplicate, alarm_ignored_held: the task before wrote $.outcome), Superseded, or after StartSuccessor (handed_over) or CloseAfterHold (hold_ended): staying open never ends the episode"
  }
  assert {
    # The probe function decides (lambda_src/probe/loop.py, property-tested in
    # tests/unit/test_probe_loop.py); the definition tells it the action and routes on its decision.
    condition     = jsondecode(output.state_machine_definition).States.Probe.Parameters.Payload.loop.giveUpAction == "stay_open" && one([for c in jsondecode(output.state_machine_definition).States.AfterProbe.Choices : c.Next if try(c.StringEquals, "") == "give_up_attempts"]) == "NotifyGaveUp" && jsondecode(output.state_machine_definition).States.ClaimEpisode.Parameters.Payload.episode.maxAttempts == 3
    error_message = "after the give-up, unhealthy probes keep looping (NotifyGaveUp once: the probe records $.episode.stayingOpen), with no cap: the history hand-over keeps every execution under the quota"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.NotifyGaveUp.Next == "WaitBeforeProbe" && jsondecode(output.state_machine_definition).States.NotifyGaveUp.Catch[0].Next == "GaveUpNotificationFailed" && jsondecode(output.state_machine_definition).States.GaveUpNotificationFailed.Next == "MarkLeaseClosing"
    error_message = "a stay-open nobody was told about must not happen: a failed NotifyGaveUp closes"
  }
  assert {
    condition     = strcontains(jsondecode(output.state_machine_definition).States.NotifyGaveUp.Parameters["Message.$"], "giving up after {} unhealthy probes") && strcontains(jsondecode(output.state_machine_definition).States.NotifyGaveUp.Parameters["Message.$"], "STAYS OPEN")
    error_message = "give-up message texts"
  }
  assert {
    condition     = !contains(keys(jsondecode(output.state_machine_definition).States), "GiveUpHistoryLimit")
    error_message = "no episode closes for the history quota: it hands over"
  }
  assert {
    # The schedule, the episode's bookkeeping and the retention guard's clock (the probed
    # message's age) live in the state; the probe function reads and writes them.
    condition     = jsondecode(output.state_machine_definition).States.Probe.ResultPath == "$" && jsondecode(output.state_machine_definition).States.Probe.OutputPath == "$.Payload" && jsondecode(output.state_machine_definition).States.Probe.Parameters.Payload["state.$"] == "$" && !contains(keys(jsondecode(output.state_machine_definition).States.Probe.Parameters.Payload.request), "failureVisibilityTimeout.$")
    error_message = "the probe step gets the whole state (schedule, episode, guard) and returns it"
  }
}

run "retention_guard_always_closes" {
  command = apply

  variables {
    give_up_action           = "stay_open"
    retention_margin_seconds = 120
  }

  assert {
    condition     = jsondecode(output.state_machine_definition).States.NotifyRetentionGiveUp.Next == "MarkLeaseClosing"
    error_message = "a retention give-up always closes"
  }
  assert {
    # the task that wrote the guard judged it (lambda_src/probe/loop.py: guarded, with the close
    # reason, and within_guard: no wait); the Probe task then gives up (given_up_at_once), and
    # AfterProbe routes on its verdict
    condition     = jsondecode(output.state_machine_definition).States.NotifyOpened.Next == "WaitBeforeProbe" && one([for c in jsondecode(output.state_machine_definition).States.AfterProbe.Choices : c.Next if try(c.StringEquals, "") == "give_up_retention"]) == "NotifyRetentionGiveUp" && !contains(keys(jsondecode(output.state_machine_definition).States), "GiveUpRetention") && !contains(keys(jsondecode(output.state_machine_definition).States), "RetentionGuard")
    error_message = "an exceeded guard gives up through the Probe task, without a wait"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.ClaimEpisode.Parameters.Payload.open.retentionMarginSeconds == 120
    error_message = "retention margin rendered"
  }
}

run "backoff_schedule" {
  command = apply

  variables {
    backoff_initial_seconds                 = 2
    backoff_rate                            = 3
    backoff_max_seconds                     = 50
    probe_max_attempts                      = 5
    probe_failure_visibility_margin_seconds = 7
  }

  assert {
    condition     = output.backoff_schedule.waits == [2, 6, 18, 50, 50]
    error_message = "waits = min(cap, initial * rate^i)"
  }
  assert {
    condition     = alltrue([for i, w in output.backoff_schedule.waits : output.backoff_schedule.base[i] + output.backoff_schedule.spread[i] == w && output.backoff_schedule.spread[i] >= 1])
    error_message = "equal jitter: base + spread == wait, spread >= 1"
  }
  assert {
    condition     = output.backoff_schedule.visibility == [9, 13, 25, 57, 57]
    error_message = "visibility = wait + margin"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.ClaimEpisode.Parameters.Payload.episode.maxAttempts == 5 && jsondecode(output.state_machine_definition).States.LookAtAlarm.Parameters.Payload.episode.maxAttempts == 5
    error_message = "max attempts rendered"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.ClaimEpisode.Parameters.Payload.episode.schedule == output.backoff_schedule && jsondecode(output.state_machine_definition).States.LookAtAlarm.Parameters.Payload.episode.schedule == output.backoff_schedule
    error_message = "the schedule is rendered into the definition"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.Probe.Parameters.Payload.loop.jitter == true
    error_message = "jitter on by default"
  }
}

run "fifo_never_hides_a_failed_message" {
  command = apply

  variables {
    queue_arn                               = "arn:aws:sqs:eu-west-1:123456789012:orders.fifo"
    queue_url                               = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo"
    probe_max_attempts                      = 4
    probe_failure_visibility_margin_seconds = 30
  }

  assert {
    condition     = output.backoff_schedule.visibility == [0, 0, 0, 0]
    error_message = "FIFO: a failed probe message stays visible (hiding it would block its group and the next probe would close on a lie)"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.ClaimEpisode.Parameters.Payload.episode.schedule.visibility == [0, 0, 0, 0]
    error_message = "FIFO: the rendered schedule hides nothing"
  }
}

run "no_jitter" {
  command = apply

  variables {
    backoff_jitter = false
  }

  assert {
    condition     = jsondecode(output.state_machine_definition).States.Probe.Parameters.Payload.loop.jitter == false
    error_message = "without jitter the wait is the schedule's"
  }
}

run "synthetic_probe" {
  command = apply

  variables {
    probe_mode           = "synthetic"
    probe_synthetic_body = "{\"ping\":true}"
  }

  assert {
    condition     = jsondecode(output.state_machine_definition).States.Probe.Parameters.Payload.request.probeMode == "synthetic" && jsondecode(output.state_machine_definition).States.Probe.Parameters.Payload.request.syntheticBody == "{\"ping\":true}"
    error_message = "synthetic probe payload"
  }
}

run "logging_and_tracing" {
  command = apply

  variables {
    log_level                  = "ALL"
    log_include_execution_data = true
    tracing_enabled            = true
    log_retention_days         = 7
  }

  assert {
    condition     = anytrue([for s in output.iam_policy_statements.state_machine : contains(s.actions, "xray:PutTraceSegments")])
    error_message = "tracing needs the X-Ray statement"
  }
  assert {
    condition     = output.state_machine_log_group_name == "/aws/vendedlogs/states/orders-circuit-breaker"
    error_message = "log group name"
  }
}

run "function_arn_input" {
  command = apply

  variables {
    function_name = "arn:aws:lambda:eu-west-1:123456789012:function:orders-consumer:live"
  }

  assert {
    condition     = jsonencode(one([for s in output.iam_policy_statements.probe : s.resources if s.sid == "InvokeProtectedFunction"])) == jsonencode(["arn:aws:lambda:eu-west-1:123456789012:function:orders-consumer", "arn:aws:lambda:eu-west-1:123456789012:function:orders-consumer:*"])
    error_message = "the probe may invoke the function and its qualifiers"
  }
  assert {
    # lambda_src/probe/probe_task.py: probe_request takes it from $.original (unit-tested)
    condition     = !strcontains(jsonencode(jsondecode(output.state_machine_definition).States.Probe.Parameters.Payload), "orders-consumer") && !can(jsondecode(output.state_machine_definition).States.Probe.Parameters.Payload.request["functionName.$"])
    error_message = "the probe invokes the mapping's own FunctionArn (remembered at open), not var.function_name"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.ClaimEpisode.Parameters.Payload.open.functionArn == "arn:aws:lambda:eu-west-1:123456789012:function:orders-consumer"
    error_message = "the mapping is checked against the unqualified function (lambda_src/probe/opening.py accepts it and any version or alias of it)"
  }
}

run "mapping_is_checked_before_opening" {
  command = apply

  assert {
    condition     = jsondecode(output.state_machine_definition).States.ClaimEpisode.Parameters.Payload.open.queueArn == "arn:aws:sqs:eu-west-1:123456789012:orders" && jsondecode(output.state_machine_definition).States.ClaimEpisode.Parameters.Payload.open.mappingUuid == var.event_source_mapping_uuid && jsondecode(output.state_machine_definition).States.ClaimEpisode.Resource == "arn:aws:states:::lambda:invoke"
    error_message = "the probe function reads the mapping and checks it against queue_arn (lambda_src/probe/opening.py)"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.ClaimEpisode.Next == "AfterClaim" && jsondecode(output.state_machine_definition).States.ClaimEpisode.Catch[0].Next == "ClaimFailed" && jsondecode(output.state_machine_definition).States.ClaimFailed.Default == "NotifyFailedBeforeOpen" && jsondecode(output.state_machine_definition).States.ClaimEpisode.Parameters.Payload.open.rampMaxConcurrency == null
    error_message = "a failed read takes the failed-before-open path, disabling nothing; without a half-open ramp no recorded settings are read"
  }
  assert {
    condition     = one([for c in jsondecode(output.state_machine_definition).States.AfterClaim.Choices : c.Next if try(c.StringEquals, "") == "inconsistent"]) == "NotifyFailedBeforeOpen" && one([for c in jsondecode(output.state_machine_definition).States.AfterClaim.Choices : c.Next if try(c.StringEquals, "") == "close"]) == "CloseCircuit"
    error_message = "an inconsistent mapping takes the failed-before-open path, disabling nothing"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.AfterClaim.Choices[0] == { Not = { Variable = "$.claim.outcome", IsString = true }, Next = "FailedBeforeOpen" } && jsondecode(output.state_machine_definition).States.AfterClaim.Choices[5] == { Not = { Variable = "$.claim.outcome", StringEquals = "claimed" }, Next = "FailedBeforeOpen" } && jsondecode(output.state_machine_definition).States.AfterClaim.Choices[6] == { Not = { Variable = "$.step.next", IsString = true }, Next = "FailedBeforeOpen" } && jsondecode(output.state_machine_definition).States.AfterClaim.Default == "FailedBeforeOpen"
    error_message = "presence is tested before any comparison (a missing path is an uncatchable runtime error); an unknown step changes nothing"
  }
  assert {
    condition     = one([for c in jsondecode(output.state_machine_definition).States.AfterClaim.Choices : c.Next if try(c.StringEquals, "") == "open"]) == "NotifyOpened" && jsondecode(output.state_machine_definition).States.DisableMapping.Next == "NotifyOpened" && jsondecode(output.state_machine_definition).States.ClaimEpisode.Parameters.Payload.stateMetric == { namespace = "SqsCircuitBreaker", circuit = "orders" } && jsondecode(output.state_machine_definition).States.LookAtAlarm.Parameters.Payload.stateMetric == { namespace = "SqsCircuitBreaker", circuit = "orders" } && one([for c in jsondecode(output.state_machine_definition).States.AfterClaim.Choices : c.Next if try(c.StringEquals, "") == "save_and_open"]) == "DisableMapping" && one([for c in jsondecode(output.state_machine_definition).States.AfterClaim.Choices : c.Next if try(c.StringEquals, "") == "save_and_hold"]) == "HoldDisableMapping"
    error_message = "an enabled mapping is disabled once ClaimEpisode recorded its settings and published CircuitState 1 (open or hold); a mapping already off is not disabled again"
  }
  assert {
    condition     = jsonencode(one([for s in output.iam_policy_statements.probe : s.resources if s.sid == "InvokeProtectedFunction"])) == jsonencode(["arn:aws:lambda:eu-west-1:123456789012:function:orders-consumer", "arn:aws:lambda:eu-west-1:123456789012:function:orders-consumer:*"])
    error_message = "the probe may invoke the function and every qualifier of it"
  }
}

run "single_flight_is_a_lease_taken_with_conditional_writes" {
  command = apply

  assert {
    condition     = jsonencode(one([for s in output.iam_policy_statements.probe : s.actions if s.sid == "RecordedSettings"])) == jsonencode(["ssm:PutParameter"])
    error_message = "without a ramp, the probe records the settings at the open and never reads them"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.ClaimEpisode.Parameters.Payload.episode.probeBudgetSeconds == jsondecode(output.state_machine_definition).States.Probe.Parameters.Payload.loop.probeBudgetSeconds && jsondecode(output.state_machine_definition).States.LookAtAlarm.Parameters.Payload.episode.probeBudgetSeconds == jsondecode(output.state_machine_definition).States.Probe.Parameters.Payload.loop.probeBudgetSeconds
    error_message = "the open and the re-open write the first wait's retention guard with the loop's probe budget"
  }

  assert {
    # The conditional writes are the probe function's (lambda_src/probe/claim.py, unit-tested
    # against DynamoDB's conditions): the task passes it the lease and its bounds.
    condition = jsondecode(output.state_machine_definition).States.ClaimEpisode.Resource == "arn:aws:states:::lambda:invoke" && jsondecode(output.state_machine_definition).States.ClaimEpisode.Parameters.Payload.claim == {
      leaseTable    = "orders-cb-lease", circuit = "orders", controlParameter = "/sqs-circuit-breaker/orders/control"
      leaseAttempts = 5, rechecks = 2, recheckMinSeconds = 5, recheckMaxSeconds = 15
    } && jsondecode(output.state_machine_definition).States.ClaimEpisode.Parameters.Payload["state.$"] == "$" && jsondecode(output.state_machine_definition).States.ClaimEpisode.Catch[0].Next == "ClaimFailed" && jsondecode(output.state_machine_definition).States.ClaimEpisode.Next == "AfterClaim"
    error_message = "the claim gets the lease, the marker and its bounds; a claim that fails notifies that nothing was opened"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.WaitBeforeDuplicateRecheck.Next == "ClaimEpisode" && jsondecode(output.state_machine_definition).States.WaitBeforeDuplicateRecheck.SecondsPath == "$.claim.waitSeconds" && jsondecode(output.state_machine_definition).States.AfterClaim.Choices[1].Next == "WaitBeforeDuplicateRecheck" && one([for c in jsondecode(output.state_machine_definition).States.AfterClaim.Choices : c.Next if try(c.StringEquals, "") == "save_and_open"]) == "DisableMapping" && jsondecode(output.state_machine_definition).States.AfterClaim.Default == "FailedBeforeOpen"
    error_message = "a running holder: wait and claim again (then duplicate); claimed: the same task read the mapping, then its decision"
  }
  assert {
    condition     = contains(one([for s in output.iam_policy_statements.probe : s.actions if s.sid == "EpisodeLease"]), "dynamodb:UpdateItem") && jsonencode(one([for s in output.iam_policy_statements.probe : s.resources if s.sid == "ControlMarker"])) == jsonencode(["arn:aws:ssm:eu-west-1:123456789012:parameter/sqs-circuit-breaker/orders/control"]) && contains(one([for s in output.iam_policy_statements.probe : s.actions if s.sid == "OwnExecutions"]), "states:DescribeExecution")
    error_message = "the probe's role may take the lease, read and write the marker and describe the holder"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.MarkLeaseClosing.Resource == "arn:aws:states:::dynamodb:updateItem" && jsondecode(output.state_machine_definition).States.MarkLeaseClosing.Parameters.ConditionExpression == "holder = :self" && jsondecode(output.state_machine_definition).States.MarkLeaseClosing.Catch[0] == { ErrorEquals = ["DynamoDB.ConditionalCheckFailedException"], ResultPath = null, Next = "Superseded" } && jsondecode(output.state_machine_definition).States.MarkLeaseClosing.Catch[1].Next == "CloseCircuit" && jsondecode(output.state_machine_definition).States.MarkLeaseClosing.Next == "CloseCircuit"
    error_message = "the gate before the close ends an execution that no longer holds the lease (a conditional write); an unwritable lease does not stop the close"
  }
  assert {
    condition     = length([for k, st in jsondecode(output.state_machine_definition).States : k if can(regex("resumeAt", jsonencode(st)))]) == 0
    error_message = "every Next is static: no state writes or routes on a resume point"
  }
  assert {
    condition     = !can(jsondecode(output.state_machine_definition).States.ReleaseLease) && contains(one([for s in output.iam_policy_statements.probe : s.actions if s.sid == "EpisodeLease"]), "dynamodb:DeleteItem")
    error_message = "the look that ends the episode releases the lease (only its own: lambda_src/probe/lease.py, tested against moto)"
  }
  assert {
    condition     = anytrue([for st in output.iam_policy_statements.state_machine : toset(st.actions) == toset(["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]) && st.resources == ["arn:aws:dynamodb:eu-west-1:123456789012:table/orders-cb-lease"]])
    error_message = "the lease calls on the lease table only"
  }
  assert {
    condition     = anytrue([for st in output.iam_policy_statements.state_machine : contains(st.actions, "states:DescribeExecution") && st.resources == ["arn:aws:states:eu-west-1:123456789012:execution:orders-circuit-breaker:*"]])
    error_message = "DescribeExecution only on this state machine's executions"
  }
}

run "every_probe_checks_the_mapping_and_judges_as_it_does" {
  command = apply

  assert {
    condition     = jsondecode(output.state_machine_definition).States.Probe.Parameters.Payload.check.mappingUuid == var.event_source_mapping_uuid && one([for c in jsondecode(output.state_machine_definition).States.AfterProbe.Choices : c.Next if try(c.StringEquals, "") == "close"]) == "MarkLeaseClosing"
    error_message = "a mapping re-enabled elsewhere ends the episode through the close (and its watch)"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.Probe.Catch[1] == { ErrorEquals = ["States.ALL"], ResultPath = "$.error", Next = "NotifyFailure" } && !can(jsondecode(output.state_machine_definition).States.ProbeTaskFailed) && !can(jsondecode(output.state_machine_definition).States.CheckBeforeProbe)
    error_message = "a failed Probe task takes the failure path (which re-enables the mapping); a check that decides otherwise (superseded, hand over, close) is the task's answer, so it never fails after deciding"
  }
  assert {
    # the probe function gives the probe the mapping and its response types from $.original,
    # as the open read them (probe_task.probe_request, tests/unit/test_probe_loop.py)
    condition     = !can(jsondecode(output.state_machine_definition).States.Probe.Parameters.Payload.request.functionResponseTypes) && !can(jsondecode(output.state_machine_definition).States.Probe.Parameters.Payload.request["mapping.$"]) && jsondecode(output.state_machine_definition).States.Probe.Parameters.Payload["state.$"] == "$"
    error_message = "the probe judges batchItemFailures only when the mapping reports them (the open's reads, from the state)"
  }
}

run "other_partitions" {
  command = apply

  override_data {
    target = data.aws_partition.current
    values = { partition = "aws-cn" }
  }
  override_data {
    target = data.aws_region.current
    values = { name = "cn-north-1", endpoint = "ec2.cn-north-1.amazonaws.com.cn" }
  }

  variables {
    queue_arn        = "arn:aws-cn:sqs:cn-north-1:123456789012:orders"
    queue_url        = "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/orders"
    rejitter_enabled = true
  }

  assert {
    condition     = !strcontains(output.state_machine_definition, "arn:aws:") && strcontains(output.state_machine_definition, "arn:aws-cn:states:::aws-sdk:lambda:updateEventSourceMapping")
    error_message = "no ARN of the aws partition in an aws-cn definition (task resources included)"
  }
  assert {
    condition     = !strcontains(output.cleanup_state_machine_arn, "arn:aws:") && !strcontains(module.state_machine.cleanup_definition, "arn:aws:")
    error_message = "the cleanup state machine uses the partition too"
  }
}

run "rejitter_is_bounded" {
  command = apply

  variables {
    rejitter_enabled         = true
    rejitter_window_seconds  = 42
    rejitter_timeout_seconds = 25
    rejitter_max_concurrency = 7
    dead_letter_queue_arn    = "arn:aws:sqs:eu-west-1:123456789012:orders-dlq"
  }

  assert {
    condition     = aws_lambda_event_source_mapping.rejitter[0].scaling_config[0].maximum_concurrency == 7
    error_message = "the rejitter's mapping has a MaximumConcurrency"
  }
  assert {
    condition     = module.rejitter[0].function_timeout == 25 && module.rejitter[0].environment.WINDOW_SECONDS == "42"
    error_message = "the rejitter's timeout is configurable and it knows its window"
  }
  assert {
    condition     = anytrue([for st in output.iam_policy_statements.rejitter : length(st.actions) == 1 && st.actions[0] == "sqs:SendMessage" && length(st.resources) == 1 && st.resources[0] == "arn:aws:sqs:eu-west-1:123456789012:orders-dlq"])
    error_message = "the rejitter may move an exhausted message to the DLQ (and only there)"
  }
  assert {
    condition     = output.cleanup_state_machine_arn != null && jsondecode(module.state_machine.cleanup_definition).States.DisableRejitter.Parameters == { Uuid = "11111111-2222-4333-8444-555555555555", Enabled = false }
    error_message = "the cleanup state machine turns the rejitter's mapping off"
  }
  assert {
    condition     = module.trigger.status_rule_name == "orders-cb-status" && length(module.trigger.cleanup_target_arn) > 0
    error_message = "an execution ending stopped, timed out or failed starts the cleanup"
  }
  assert {
    condition     = contains(output.iam_policy_statements.events[0].resources, output.cleanup_state_machine_arn)
    error_message = "the events role may start the cleanup state machine"
  }
}

run "trigger_retries_and_dead_letters" {
  command = apply

  assert {
    condition     = module.trigger.retry_policy.maximum_retry_attempts == 185 && module.trigger.retry_policy.maximum_event_age_in_seconds == 3600
    error_message = "the alarm -> state machine target retries"
  }
  assert {
    condition     = module.trigger.dead_letter_arn == output.delivery_dead_letter_queue_arn
    error_message = "an undeliverable alarm event goes to the delivery DLQ"
  }
  assert {
    condition     = length(module.trigger.delivery_alarm_actions) == 1 && module.trigger.delivery_alarm_actions[0] == output.sns_topic_arn && output.delivery_failed_alarm_name == "orders-cb-delivery-failed"
    error_message = "a message in the delivery DLQ notifies the topic"
  }
}

run "existing_alarm_sizes_the_watch" {
  command = apply

  variables {
    existing_alarm = {
      arn                = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:mine"
      name               = "mine"
      period_seconds     = 10
      evaluation_periods = 3
    }
  }

  assert {
    condition     = output.alarm_watch_seconds == 100 && jsondecode(output.state_machine_definition).States.LookAtAlarm.Parameters.Payload.watch.pollSeconds == 10 && jsondecode(output.state_machine_definition).States.LookAtAlarm.Parameters.Payload.watch.polls == 10
    error_message = "(3 + 1) x 10 + 60 = 100 s, polled every 10 s"
  }
}

run "history_quota_hand_over" {
  command = apply

  variables {
    give_up_action = "stay_open"
  }

  # After every wait the execution reads its own event count; past 20,000 (headroom 5,000: the
  # longest stretch between two measurements is checked by scripts/check_asl.py) the episode
  # continues in a successor execution.
  assert {
    # The loops' tasks read the count themselves (lambda_src/probe/step.py, history_size).
    condition     = jsondecode(output.state_machine_definition).States.LookAtAlarm.Parameters.Payload.watch["execution.$"] == "$$.Execution.Id" && jsondecode(output.state_machine_definition).States.LookAtAlarm.Parameters.Payload.watch.handoverEvents == 20000
    error_message = "the count is the newest event's id of the execution's own history"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.Probe.Parameters.Payload.check.handoverEvents == 20000 && jsondecode(output.state_machine_definition).States.Probe.Parameters.Payload.check["execution.$"] == "$$.Execution.Id" && one([for c in jsondecode(output.state_machine_definition).States.AfterProbe.Choices : c.Next if try(c.StringEquals, "") == "hand_over"]) == "StartSuccessor" && one([for c in jsondecode(output.state_machine_definition).States.AfterLook.Choices : c.Next if try(c.StringEquals, "") == "hand_over"]) == "StartSuccessor"
    error_message = "past 20,000 events the probe loop and the watch hand over"
  }
  assert {
    # An unreadable count fails the task (retried, then the failure path: closed, notified); a
    # hand-over instead would repeat in every successor at once when it can never be read.
    condition     = jsondecode(output.state_machine_definition).States.Probe.Catch[1].Next == "NotifyFailure" && jsondecode(output.state_machine_definition).States.LookAtAlarm.Catch[1].Next == "NotifyFailure"
    error_message = "an unreadable count fails the task (never risks the quota, never hands over in a loop)"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.StartSuccessor.Resource == "arn:aws:states:::aws-sdk:sfn:startExecution" && jsondecode(output.state_machine_definition).States.StartSuccessor.Parameters.StateMachineArn == "arn:aws:states:eu-west-1:123456789012:stateMachine:orders-circuit-breaker" && jsondecode(output.state_machine_definition).States.StartSuccessor.Parameters["Name.$"] == "$.handover.name" && lookup(jsondecode(output.state_machine_definition).States.StartSuccessor, "End", false) && !can(jsondecode(output.state_machine_definition).States.HandedOver) && jsondecode(output.state_machine_definition).States.StartSuccessor.Catch[0].Next == "NotifyFailure"
    error_message = "the successor is started under a name fixed beforehand (a retry is idempotent); a failed start takes the failure path (close, notified)"
  }
  assert {
    # The loops' tasks write the successor's input (lambda_src/probe/handover.py: with_hand_over,
    # unit-tested); the successor's first task checks every path of it the states read once it may
    # have failed (continuation_problems) before it claims the lease: an invalid one is refused at
    # once (no retry) into InvalidInput, which reads nothing. Probe's parameters read no path of
    # the state but $ (a missing one would be an uncatchable runtime error).
    condition     = jsondecode(output.state_machine_definition).States.StartSuccessor.Parameters["Input.$"] == "States.JsonToString($.handover.input)" && !can(jsondecode(output.state_machine_definition).States.PrepareProbeHandOver) && alltrue([for name in ["Probe", "LookAtAlarm"] : jsondecode(output.state_machine_definition).States[name].Catch[0] == { ErrorEquals = ["InvalidContinuation"], ResultPath = "$.error", Next = "InvalidInput" } && jsondecode(output.state_machine_definition).States[name].Retry[0] == { ErrorEquals = ["InvalidContinuation"], MaxAttempts = 0, IntervalSeconds = 1 }]) && !strcontains(jsonencode(jsondecode(output.state_machine_definition).States.Probe.Parameters), "$.original")
    error_message = "the successor's input is the episode's state, checked by its first task (the failure path's paths)"
  }
  assert {
    condition     = jsonencode([for c in jsondecode(output.state_machine_definition).States.RouteCommand.Choices : c.Next if try(c.And[1].StringEquals, "") == "watch" && try(c.And[0].Variable, "") == "$.continuation.phase"]) == jsonencode(["LookAtAlarm"]) && jsondecode(output.state_machine_definition).States.RouteCommand.Choices[1] == { Variable = "$.continuation", IsPresent = true, Next = "Probe" } && !can(jsondecode(output.state_machine_definition).States.CheckContinuation) && !can(jsondecode(output.state_machine_definition).States.InvalidContinuation) && !can(jsondecode(output.state_machine_definition).States.RestoreProbePhase) && !can(jsondecode(output.state_machine_definition).States.RestoreWatchPhase)
    error_message = "a successor resumes at the look (the watch) or else the check, whose task validates its input (the failure path's paths: lambda_src/probe/handover.py) and claims the lease from its predecessor first"
  }
  assert {
    condition     = anytrue([for st in output.iam_policy_statements.state_machine : contains(st.actions, "states:StartExecution") && st.resources == ["arn:aws:states:eu-west-1:123456789012:stateMachine:orders-circuit-breaker"]])
    error_message = "the state machine may start only itself"
  }
}

run "transition_events_on_the_default_bus" {
  command = apply

  variables {
    transition_event_bus      = "default"
    half_open_max_concurrency = 2
  }

  assert {
    condition = toset([for k, s in jsondecode(output.state_machine_definition).States : k if startswith(k, "Announce")]) == toset([
      "AnnounceClosedAfterFailure", "AnnounceManualActionRequired", "AnnounceRamp",
    ])
    error_message = "one Announce state per transition the state machine makes (the ramp's too); the open, the hold, the give-ups, the close and the re-open are announced by the tasks that decide them"
  }
  assert {
    condition = alltrue([
      for k, s in jsondecode(output.state_machine_definition).States :
      s.Resource == "arn:aws:states:::events:putEvents" && s.Parameters.Entries[0].EventBusName == "arn:aws:events:eu-west-1:123456789012:event-bus/default" && s.Parameters.Entries[0].Source == "sqs-circuit-breaker"
      if startswith(k, "Announce")
    ])
    error_message = "every Announce state puts its event on the named bus (a name becomes this account's and region's ARN)"
  }
  assert {
    condition = (
      jsondecode(output.state_machine_definition).States.NotifyOpened.Next == "WaitBeforeProbe" &&
      jsondecode(output.state_machine_definition).States.NotifyHeld.Next == "SettleAfterCommand" &&
      jsondecode(output.state_machine_definition).States.NotifyGaveUp.Catch[0].Next == "GaveUpNotificationFailed" &&
      jsondecode(output.state_machine_definition).States.OpenHalfway.Next == "AnnounceRamp" &&
      one([for c in jsondecode(output.state_machine_definition).States.AfterClaim.Choices : c.Next if try(c.StringEquals, "") == "save_and_open"]) == "DisableMapping"
    )
    error_message = "each announcement follows its notification and goes where the notification went (a give-up nobody was told about still closes)"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.Probe.Parameters.Payload.request.transitionEvents.eventBusName == "arn:aws:events:eu-west-1:123456789012:event-bus/default" && jsondecode(output.state_machine_definition).States.ClaimEpisode.Parameters.Payload.transitionEvents == { eventBusName = "arn:aws:events:eu-west-1:123456789012:event-bus/default", circuit = "orders", "episode.$" = "$$.Execution.Id", mapping = "0f6e1d2c-3b4a-4958-8a7b-6c5d4e3f2a1b", queue = "arn:aws:sqs:eu-west-1:123456789012:orders" } && jsondecode(output.state_machine_definition).States.LookAtAlarm.Parameters.Payload.transitionEvents.queue == "arn:aws:sqs:eu-west-1:123456789012:orders"
    error_message = "the probe function gets the bus, to announce the probe's own transitions, the open, the hold and the re-open"
  }
  assert {
    condition = alltrue([
      for principal in ["state_machine", "probe"] :
      toset(one([for s in output.iam_policy_statements[principal] : s.resources if s.sid == "PutTransitionEvents"])) == toset(["arn:aws:events:eu-west-1:123456789012:event-bus/default"])
    ])
    error_message = "the state machine and the probe may put events on that bus only"
  }
}

run "no_transition_events_by_default" {
  command = apply

  assert {
    condition     = length([for k, s in jsondecode(output.state_machine_definition).States : k if startswith(k, "Announce") || startswith(k, "CommandFrom")]) == 0 && !strcontains(output.state_machine_definition, "transitionEvents")
    error_message = "without a bus, no Announce state, no CommandFrom, nothing for the probe"
  }
  assert {
    condition     = alltrue([for principal in ["state_machine", "probe"] : length([for s in output.iam_policy_statements[principal] : s if s.sid == "PutTransitionEvents"]) == 0])
    error_message = "no events permission without a bus"
  }
}

run "a_give_up_that_closes_is_announced_even_when_its_notification_failed" {
  command = apply

  variables {
    transition_event_bus = "default"
    give_up_action       = "close"
  }

  assert {
    # The Probe task announces the give-up as it decides it (lambda_src/probe/step.py), before
    # the notification: a failed notification goes on to the close.
    condition     = jsondecode(output.state_machine_definition).States.NotifyGaveUp.Catch[0].Next == "MarkLeaseClosing" && !contains(keys(jsondecode(output.state_machine_definition).States), "AnnounceGaveUp") && jsondecode(output.state_machine_definition).States.Probe.Parameters.Payload.request.transitionEvents.eventBusName == "arn:aws:events:eu-west-1:123456789012:event-bus/default"
    error_message = "a give-up is announced by the Probe task that decides it, whether its notification is published or not, then closes"
  }
}
