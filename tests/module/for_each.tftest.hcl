# Several circuits in one stack (for_each): every resource name derives from `name` only, so two
# circuits never collide, and the longest allowed name still fits every service's limit.
# (Two root runs with different names stand in for two for_each instances: a fixture module would
# need `terraform init -test-directory=tests/module`, which the Makefile's tf-init does not run.)
mock_provider "aws" {
  source = "./tests/module/mocks"
}

variables {
  function_name             = "orders-consumer"
  event_source_mapping_uuid = "0f6e1d2c-3b4a-4958-8a7b-6c5d4e3f2a1b"
  rejitter_enabled          = true
  create_sns_topic          = true
}

run "circuit_a" {
  command = apply

  variables {
    name      = "orders"
    queue_arn = "arn:aws:sqs:eu-west-1:123456789012:orders"
    queue_url = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders"
  }
}

run "circuit_b_longest_name" {
  command = apply

  variables {
    name      = "a234567890123456789012345678901234567890"
    queue_arn = "arn:aws:sqs:eu-west-1:123456789012:payments"
    queue_url = "https://sqs.eu-west-1.amazonaws.com/123456789012/payments"
  }

  assert {
    condition = length(setintersection(
      toset([output.state_machine_name, output.probe_function_name, output.rejitter_function_name, output.event_rule_name, output.alarm_name, output.state_machine_log_group_name, output.sns_topic_arn]),
      toset([run.circuit_a.state_machine_name, run.circuit_a.probe_function_name, run.circuit_a.rejitter_function_name, run.circuit_a.event_rule_name, run.circuit_a.alarm_name, run.circuit_a.state_machine_log_group_name, run.circuit_a.sns_topic_arn]),
    )) == 0
    error_message = "two circuits share a resource name"
  }
  assert {
    condition     = length(output.probe_function_name) <= 64 && length(output.rejitter_function_name) <= 64
    error_message = "a function name is longer than 64 characters"
  }
  assert {
    condition     = length(output.state_machine_name) <= 80
    error_message = "the state machine name is longer than 80 characters"
  }
  assert {
    condition     = length(output.event_rule_name) <= 64
    error_message = "the rule name is longer than 64 characters"
  }
  assert {
    condition = alltrue([for n in [
      module.state_machine.role_name, module.probe.role_name, module.rejitter[0].role_name, module.trigger.role_name,
    ] : length(n) <= 64]) && length(distinct([module.state_machine.role_name, module.probe.role_name, module.rejitter[0].role_name, module.trigger.role_name])) == 4
    error_message = "IAM role names must be distinct and at most 64 characters"
  }
}
