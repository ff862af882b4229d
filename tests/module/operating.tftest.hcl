# Operating a circuit: the control marker and the commands in the state machine, pausing the
# breaker, the dashboard and the alarms on the breaker itself.
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

run "control_parameters_and_commands" {
  command = apply

  assert {
    condition     = module.state_machine.control_parameter_name == "/sqs-circuit-breaker/orders/control" && module.state_machine.settings_parameter_name == "/sqs-circuit-breaker/orders/settings"
    error_message = "the control marker and the settings record live under /sqs-circuit-breaker/<name>"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).StartAt == "RouteCommand" && jsondecode(output.state_machine_definition).States.ClaimEpisode.Parameters.Payload.started == { "execution.$" = "$$.Execution.Id", "at.$" = "$$.Execution.StartTime", "name.$" = "$$.Execution.Name" }
    error_message = "every execution records its start (the claim; a successor's first task, lambda_src/probe/step.py), after the commands are routed"
  }
  assert {
    condition = [for c in jsondecode(output.state_machine_definition).States.RouteCommand.Choices : c.Next] == [
      "LookAtAlarm", "Probe", "ClaimEpisode", "InvalidInput", "InvalidInput", "InvalidInput", "InvalidInput", "InvalidInput", "InvalidInput", "ClaimEpisode", "ClaimEpisode",
    ] && jsondecode(output.state_machine_definition).States.RouteCommand.Default == "InvalidInput" && jsondecode(output.state_machine_definition).States.InvalidInput.Type == "Fail"
    error_message = "a successor continues its predecessor's episode; alarm executions (no command) claim the episode (the marker first); hold and close are the only commands (a timed hold's end must be a timestamp); anything else fails before changing anything"
  }
  assert {
    condition     = [for c in jsondecode(output.state_machine_definition).States.AfterClaim.Choices : c.Next] == ["FailedBeforeOpen", "WaitBeforeDuplicateRecheck", "Ended", "Ended", "Superseded", "FailedBeforeOpen", "FailedBeforeOpen", "DisableMapping", "HoldDisableMapping", "NotifyOpened", "NotifyHeld", "CloseCircuit", "NotifyFailedBeforeOpen"] && jsondecode(output.state_machine_definition).States.AfterClaim.Choices[3].StringEquals == "ignored_held" && jsondecode(output.state_machine_definition).States.Ended.Type == "Succeed" && jsondecode(output.state_machine_definition).States.ClaimEpisode.Parameters.Payload.claim.controlParameter == "/sqs-circuit-breaker/orders/control"
    error_message = "an alarm during a hold ends at once (the claim reads the marker)"
  }
  assert {
    # The measurement sits between each wait and its control check (history quota): in the probe
    # loop the check task measures it itself (lambda_src/probe/step.py).
    condition     = [for s in ["WaitBeforeProbe", "WatchAfterClose"] : jsondecode(output.state_machine_definition).States[s].Next] == ["Probe", "LookAtAlarm"] && jsondecode(output.state_machine_definition).States.Probe.Parameters.Payload.check.handoverEvents == 20000 && jsondecode(output.state_machine_definition).States.Probe.Parameters.Payload.check.leaseTable == "orders-cb-lease" && jsondecode(output.state_machine_definition).States.Probe.Next == "AfterProbe" && jsondecode(output.state_machine_definition).States.LookAtAlarm.Parameters.Payload.watch.leaseTable == "orders-cb-lease"
    error_message = "every wait of an episode is followed by a control check"
  }
  assert {
    # A command owns the circuit from the moment it takes the lease: a hold keeps it (phase held).
    # The marker and the lease are the claim's (lambda_src/probe/commands.py: command_claim, tested
    # against DynamoDB's conditions); a claim that fails is a failed command, notified.
    condition     = jsondecode(output.state_machine_definition).States.ClaimFailed.Choices[0].Variable == "$.command" && jsondecode(output.state_machine_definition).States.ClaimFailed.Choices[0].Next == "NotifyCommandFailed" && jsondecode(output.state_machine_definition).States.ClaimFailed.Default == "NotifyFailedBeforeOpen" && one([for c in jsondecode(output.state_machine_definition).States.IsMappingAsCommanded.Choices : c.Next if try(c.StringEquals, "") == "held"]) == "Ended"
    error_message = "a command takes the lease unconditionally (every running execution is superseded); a hold keeps it"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.ClaimEpisode.Parameters.Payload.claim.controlParameter == "/sqs-circuit-breaker/orders/control" && jsondecode(output.state_machine_definition).States.VerifyAfterCommand.Parameters.Payload.verify.controlParameter == "/sqs-circuit-breaker/orders/control" && jsondecode(output.state_machine_definition).States.ClaimEpisode.Parameters.Payload.open.settingsParameter == "/sqs-circuit-breaker/orders/settings"
    error_message = "the state machine writes and reads the module's parameters"
  }
  assert {
    condition     = contains([for c in jsondecode(output.state_machine_definition).States.AfterLook.Choices : c.Next if lookup(c, "StringEquals", "") == "settle"], "SettleAfterCommand") && jsonencode([for c in jsondecode(output.state_machine_definition).States.IsMappingAsCommanded.Choices : c.Next]) == jsonencode(["InvalidProbeResult", "Ended", "WaitForHoldEnd", "NotifyCommandFailed", "Superseded", "HoldDisableMappingAgain", "ForceCloseEnableAgain", "LookAtAlarm"]) && jsondecode(output.state_machine_definition).States.IsMappingAsCommanded.Default == "InvalidProbeResult" && jsondecode(output.state_machine_definition).States.VerifyAfterCommandFailed.Default == "NotifyFailure"
    error_message = "a force close re-checks the mapping, then watches the alarm like any close (no flap)"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.NotifyHeld.Next == "SettleAfterCommand" && jsondecode(output.state_machine_definition).States.SettleAfterCommand.Next == "VerifyAfterCommand" && jsondecode(output.state_machine_definition).States.VerifyAfterCommand.Catch[0].Next == "VerifyAfterCommandFailed" && jsondecode(output.state_machine_definition).States.VerifyAfterCommand.Next == "IsMappingAsCommanded" && jsondecode(output.state_machine_definition).States.HoldDisableMappingAgain.Next == "SettleAfterCommand" && jsondecode(output.state_machine_definition).States.VerifyAfterCommand.Parameters.Payload.verify.disableAgainLimit == 1 && jsondecode(output.state_machine_definition).States.HoldDisableMappingAgain.ResultPath == "$.current" && jsondecode(output.state_machine_definition).States.VerifyAfterCommandFailed.Choices[0].Next == "NotifyCommandFailed"
    error_message = "a hold re-checks that the mapping stayed disabled, unless a later command owns the circuit; a mapping found enabled is disabled again and looked at once more (then the hold is contested)"
  }
  assert {
    # The check publishes CircuitState 1 and OpenSeconds in this namespace; the probe's role may.
    condition     = jsondecode(output.state_machine_definition).States.Probe.Parameters.Payload.check.metricNamespace == "SqsCircuitBreaker" && jsonencode(one([for s in output.iam_policy_statements["probe"] : s.conditions if s.sid == "PublishOpenHeartbeat"])) == jsonencode([{ test = "StringEquals", values = ["SqsCircuitBreaker"], variable = "cloudwatch:namespace" }])
    error_message = "each probe loop publishes the time open"
  }
}

run "timed_hold_ends_with_a_close_command" {
  command = apply

  assert {
    condition     = one([for c in jsondecode(output.state_machine_definition).States.IsMappingAsCommanded.Choices : c.Next if try(c.StringEquals, "") == "held_until"]) == "WaitForHoldEnd" && jsondecode(output.state_machine_definition).States.WaitForHoldEnd.TimestampPath == "$.holdUntil"
    error_message = "a timed hold records its end in the control marker and waits for it inside its own execution"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.WaitForHoldEnd.Next == "CloseAfterHold" && jsondecode(output.state_machine_definition).States.CloseAfterHold.Parameters.Input["ifHeldBy.$"] == "$.started.execution" && jsondecode(output.state_machine_definition).States.CloseAfterHold.Parameters.Input.command == "close" && contains([for c in jsondecode(output.state_machine_definition).States.AfterClaim.Choices : c.Next if try(c.StringEquals, "") == "superseded"], "Superseded")
    error_message = "at its end a hold starts a close that closes only while the hold still holds the lease (a later command: the close ends superseded)"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.CloseAfterHold.Resource == "arn:aws:states:::states:startExecution" && jsondecode(output.state_machine_definition).States.CloseAfterHold.Parameters["Name.$"] == "States.Format('close-{}', States.Hash($.started.execution, 'SHA-1'))" && jsondecode(output.state_machine_definition).States.CloseAfterHold.Catch[0].Next == "NotifyCommandFailed" && lookup(jsondecode(output.state_machine_definition).States.CloseAfterHold, "End", false)
    error_message = "the hold's end starts a close command (named after the hold: a retry is idempotent); a failure is notified"
  }
}

run "descriptor_published_for_operator_tools" {
  command = apply

  assert {
    condition     = output.descriptor_parameter_name == "/sqs-circuit-breaker/orders/descriptor" && output.descriptor.schema == "sqs-circuit-breaker/descriptor" && output.descriptor.version == 1 && output.descriptor.circuit == "orders"
    error_message = "the descriptor is published under /sqs-circuit-breaker/<name>/descriptor, with its schema and version"
  }
  assert {
    condition     = endswith(output.descriptor.stateMachineArn, ":stateMachine:orders-circuit-breaker") && output.descriptor.mappingUuid == var.event_source_mapping_uuid && output.descriptor.queueUrl == var.queue_url && output.descriptor.queueArn == var.queue_arn && output.descriptor.alarmName == output.alarm_name
    error_message = "the descriptor names the circuit's state machine, mapping, queue and alarm"
  }
  assert {
    condition     = output.descriptor.controlParameter == output.control_parameter_name && output.descriptor.settingsParameter == output.settings_parameter_name && output.descriptor.leaseTable == output.lease_table_name && output.descriptor.rejitterMappingUuid == output.rejitter_event_source_mapping_uuid && output.descriptor.topicArn == output.sns_topic_arn && output.descriptor.cleanupStateMachineArn == output.cleanup_state_machine_arn
    error_message = "the descriptor names the control and settings parameters, the lease table, the rejitter mapping, the topic and the cleanup state machine as the outputs do"
  }
}

run "breaker_alarms_on_by_default_with_notifications" {
  command = apply

  assert {
    condition     = length(module.observability.alarm_names) == 3 && alltrue([for k, v in module.observability.alarm_names : v != null])
    error_message = "the three breaker alarms exist when notifications are on (the default)"
  }
  assert {
    condition     = output.breaker_alarm_names.open_too_long == "orders-cb-open-too-long" && output.breaker_alarm_names.trigger_failed == "orders-cb-trigger-failed" && output.breaker_alarm_names.execution_failed == "orders-cb-execution-failed"
    error_message = "breaker alarm names"
  }
  assert {
    condition     = module.observability.dashboard_name == null
    error_message = "no dashboard by default"
  }
  assert {
    condition     = module.trigger.rule_state == "ENABLED"
    error_message = "the breaker is on by default"
  }
}

run "paused_with_dashboard_and_one_alarm_off" {
  command = apply

  variables {
    enabled                  = false
    create_dashboard         = true
    breaker_alarms           = { trigger_failed = false }
    open_alarm_after_seconds = 900
  }

  assert {
    condition     = module.trigger.rule_state == "DISABLED"
    error_message = "enabled = false disables the alarm -> state machine rule"
  }
  assert {
    condition     = output.dashboard_name == "orders-circuit-breaker"
    error_message = "the dashboard is created"
  }
  assert {
    condition     = output.breaker_alarm_names.trigger_failed == null && output.breaker_alarm_names.open_too_long != null
    error_message = "each breaker alarm can be turned off"
  }
  assert {
    condition     = length(jsondecode(module.observability.dashboard_body).widgets) == 6
    error_message = "six widgets: state, alarms, function, queue, executions, probes"
  }
}

run "no_notifications_no_breaker_alarms" {
  command = apply

  variables {
    create_sns_topic = false
    give_up_action   = "close"
  }

  assert {
    condition     = alltrue([for k, v in output.breaker_alarm_names : v == null])
    error_message = "without a topic there is nobody to notify: no breaker alarms"
  }
}

run "open_alarm_after_seconds_is_validated" {
  command = plan

  variables {
    open_alarm_after_seconds = 5
  }

  expect_failures = [var.open_alarm_after_seconds]
}

run "json_notifications" {
  command = apply

  variables {
    notification_format = "json"
  }

  assert {
    # the sns:publish integration serializes a Message that is not a string (as AWS does:
    # tests/integration/test_harness_sqs_sfn.py, test_an_sns_publish_task_serializes_a_message_object)
    condition     = jsondecode(output.state_machine_definition).States.NotifyOpened.Type == "Task" && jsondecode(output.state_machine_definition).States.NotifyOpened.Next == "WaitBeforeProbe" && startswith(jsondecode(output.state_machine_definition).States.NotifyOpened.Parameters.Message["message.$"], "States.Format('Circuit orders is OPEN") && length([for name in keys(jsondecode(output.state_machine_definition).States) : name if endswith(name, "Send")]) == 0
    error_message = "json: one task publishes the object"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.NotifyOpened.Parameters.Message.state == "OPEN" && jsondecode(output.state_machine_definition).States.NotifyHeld.Parameters.Message.state == "HELD OPEN" && jsondecode(output.state_machine_definition).States.NotifyClosed.Parameters.Message.circuit == "orders"
    error_message = "json: circuit and state in every message"
  }
  assert {
    condition     = startswith(jsondecode(output.state_machine_definition).States.NotifyClosed.Parameters.Message.consoleLinks.alarm, "https://eu-west-1.console.aws.amazon.com/cloudwatch/")
    error_message = "json: console links"
  }
  assert {
    condition     = jsondecode(module.trigger.status_input_template).circuit == "orders"
    error_message = "json: the execution-status notification is a JSON object too"
  }
}

run "notification_format_is_validated" {
  command = plan

  variables {
    notification_format = "xml"
  }

  expect_failures = [var.notification_format]
}
