# The module plans and applies (against a mocked AWS provider) with only its required inputs, and
# the rendered state machine is valid JSON with the core states.
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

run "plans_with_required_inputs_only" {
  command = plan

  assert {
    condition     = module.state_machine.state_machine_name == "orders-circuit-breaker"
    error_message = "state machine name"
  }
}

run "core_states" {
  command = apply

  assert {
    condition = alltrue([for s in [
      "RouteCommand", "ClaimEpisode", "AfterClaim", "WaitBeforeDuplicateRecheck", "Ended", "InvalidInput",
      "DisableMapping", "MarkLeaseClosing", "Superseded", "NotifyOpened",
      "WaitBeforeProbe", "Probe", "AfterProbe",
      "NotifyRetentionGiveUp", "CloseCircuit", "WatchAfterClose", "LookAtAlarm", "AfterLook", "NotifyClosed",
      "NotifyFailure", "FailureCloseCircuit", "ClosedAfterFailure", "OpenManualActionRequired", "FailedBeforeOpen",
    ] : contains(keys(jsondecode(output.state_machine_definition).States), s)])
    error_message = "a core state is missing"
  }
}
