# IAM controls for organisations: a permissions boundary, a role path and role names (prefix or
# per-role overrides) reach every role the module creates; every trust policy carries the
# confused-deputy conditions; every taggable resource is tagged.
mock_provider "aws" {
  source = "./tests/module/mocks"
}

# The real provider renders aws_iam_policy_document locally (offline, no credentials): used for
# the run that reads the rendered trust policies.
provider "aws" {
  alias                       = "offline"
  region                      = "eu-west-1"
  access_key                  = "offline"
  secret_key                  = "offline"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}

variables {
  name                      = "orders"
  function_name             = "orders-consumer"
  event_source_mapping_uuid = "0f6e1d2c-3b4a-4958-8a7b-6c5d4e3f2a1b"
  queue_arn                 = "arn:aws:sqs:eu-west-1:123456789012:orders"
  queue_url                 = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders"
  rejitter_enabled          = true
}

run "trust_policies_carry_confused_deputy_conditions" {
  command = plan

  plan_options {
    refresh = false
  }

  providers = {
    aws = aws.offline
  }

  # No topic: the trigger module depends on the topic's policy, and a pending dependency defers
  # its data sources (the trust policy) to apply.
  variables {
    create_sns_topic = false
    give_up_action   = "close"
  }

  # The provider validates a known definition with an API call at plan time: not offline.
  override_resource {
    target = module.state_machine.aws_sfn_state_machine.this
  }
  override_resource {
    target = module.state_machine.aws_sfn_state_machine.cleanup
  }
  override_data {
    target = data.aws_caller_identity.current
    values = { account_id = "123456789012" }
  }

  # Lambda: the account (Lambda assumes the role while validating CreateFunction, before the
  # function exists, so no aws:SourceArn).
  assert {
    condition = alltrue([for doc in [module.probe.assume_role_policy_json, module.rejitter[0].assume_role_policy_json] :
      jsondecode(doc).Statement[0].Principal.Service == "lambda.amazonaws.com"
      && jsondecode(doc).Statement[0].Condition.StringEquals["aws:SourceAccount"] == "123456789012"
    ])
    error_message = "the functions' roles trust Lambda only on behalf of this account"
  }
  # Step Functions: the account and this state machine.
  assert {
    condition = (
      jsondecode(module.state_machine.assume_role_policy_json).Statement[0].Condition.StringEquals["aws:SourceAccount"] == "123456789012"
      && jsondecode(module.state_machine.assume_role_policy_json).Statement[0].Condition.ArnLike["aws:SourceArn"] == [
        "arn:aws:states:eu-west-1:123456789012:stateMachine:orders-circuit-breaker",
        "arn:aws:states:eu-west-1:123456789012:stateMachine:orders-circuit-breaker:*",
      ]
    )
    error_message = "the state machine's role trusts only this state machine of this account"
  }
  assert {
    condition = (
      jsondecode(module.state_machine.cleanup_assume_role_policy_json).Statement[0].Condition.StringEquals["aws:SourceAccount"] == "123456789012"
      && jsondecode(module.state_machine.cleanup_assume_role_policy_json).Statement[0].Condition.ArnLike["aws:SourceArn"] == [
        "arn:aws:states:eu-west-1:123456789012:stateMachine:orders-circuit-breaker-cleanup",
        "arn:aws:states:eu-west-1:123456789012:stateMachine:orders-circuit-breaker-cleanup:*",
      ]
    )
    error_message = "the cleanup role trusts only the cleanup state machine of this account"
  }
  # EventBridge: the account and this circuit's two rules.
  assert {
    condition = (
      jsondecode(module.trigger.assume_role_policy_json).Statement[0].Principal.Service == "events.amazonaws.com"
      && jsondecode(module.trigger.assume_role_policy_json).Statement[0].Condition.StringEquals["aws:SourceAccount"] == "123456789012"
      && toset(jsondecode(module.trigger.assume_role_policy_json).Statement[0].Condition.ArnEquals["aws:SourceArn"]) == toset([
        "arn:aws:events:eu-west-1:123456789012:rule/orders-cb-alarm",
        "arn:aws:events:eu-west-1:123456789012:rule/orders-cb-status",
      ])
    )
    error_message = "the EventBridge role trusts only this circuit's rules in this account"
  }
}

run "defaults_path_no_boundary_default_names" {
  command = apply

  assert {
    condition = alltrue([
      module.probe.role_path == "/", module.rejitter[0].role_path == "/", module.trigger.role_path == "/",
      module.state_machine.roles.role.path == "/", module.state_machine.roles.cleanup.path == "/",
    ])
    error_message = "roles are at path / by default"
  }
  assert {
    condition = alltrue([for b in [
      module.probe.role_permissions_boundary, module.rejitter[0].role_permissions_boundary, module.trigger.role_permissions_boundary,
      module.state_machine.roles.role.permissions_boundary, module.state_machine.roles.cleanup.permissions_boundary,
    ] : b == null])
    error_message = "no permissions boundary by default"
  }
  assert {
    condition = [module.state_machine.role_name, module.state_machine.cleanup_role_name, module.probe.role_name, module.rejitter[0].role_name, module.trigger.role_name] == [
      "orders-cb-sfn", "orders-cb-cleanup", "orders-cb-probe", "orders-cb-rejitter", "orders-cb-events",
    ]
    error_message = "default role names"
  }
}

run "boundary_path_and_prefix_reach_every_role" {
  command = apply

  variables {
    role_permissions_boundary = "arn:aws:iam::123456789012:policy/org/boundary"
    role_path                 = "/circuit-breakers/"
    role_name_prefix          = "app-"
  }

  assert {
    condition = alltrue([
      module.probe.role_path == "/circuit-breakers/", module.rejitter[0].role_path == "/circuit-breakers/",
      module.trigger.role_path == "/circuit-breakers/", module.state_machine.roles.role.path == "/circuit-breakers/",
      module.state_machine.roles.cleanup.path == "/circuit-breakers/",
    ])
    error_message = "role_path reaches every role"
  }
  assert {
    condition = alltrue([for b in [
      module.probe.role_permissions_boundary, module.rejitter[0].role_permissions_boundary, module.trigger.role_permissions_boundary,
      module.state_machine.roles.role.permissions_boundary, module.state_machine.roles.cleanup.permissions_boundary,
    ] : b == "arn:aws:iam::123456789012:policy/org/boundary"])
    error_message = "role_permissions_boundary reaches every role"
  }
  assert {
    condition = [module.state_machine.role_name, module.state_machine.cleanup_role_name, module.probe.role_name, module.rejitter[0].role_name, module.trigger.role_name] == [
      "app-orders-cb-sfn", "app-orders-cb-cleanup", "app-orders-cb-probe", "app-orders-cb-rejitter", "app-orders-cb-events",
    ]
    error_message = "role_name_prefix prefixes every role name"
  }
  assert {
    condition     = output.probe_function_name == "orders-cb-probe" && output.state_machine_name == "orders-circuit-breaker"
    error_message = "the prefix names roles only"
  }
  assert {
    # least privilege is unchanged: the same statements as without the controls
    condition     = toset(flatten([for p, ss in output.iam_policy_statements : [for s in ss : "${p}/${s.sid}"]])) == toset(flatten([for p, ss in run.defaults_path_no_boundary_default_names.iam_policy_statements : [for s in ss : "${p}/${s.sid}"]]))
    error_message = "the IAM controls change no policy statement"
  }
}

run "longest_name_with_longest_prefix_fits" {
  command = apply

  variables {
    name             = "a234567890123456789012345678901234567890"
    role_name_prefix = "abcdefghijkl"
  }

  assert {
    condition     = alltrue([for n in [module.state_machine.role_name, module.state_machine.cleanup_role_name, module.probe.role_name, module.rejitter[0].role_name, module.trigger.role_name] : length(n) <= 64])
    error_message = "a role name is longer than 64 characters"
  }
}

run "per_role_names" {
  command = apply

  variables {
    role_name_prefix = "app-"
    role_names = {
      state_machine = "orders-breaker-sfn"
      probe         = "orders-breaker-probe"
    }
  }

  assert {
    condition = [module.state_machine.role_name, module.state_machine.cleanup_role_name, module.probe.role_name, module.rejitter[0].role_name, module.trigger.role_name] == [
      "orders-breaker-sfn", "app-orders-cb-cleanup", "orders-breaker-probe", "app-orders-cb-rejitter", "app-orders-cb-events",
    ]
    error_message = "a named role takes its name as given; the others keep the (prefixed) default"
  }
}

run "every_taggable_resource_is_tagged" {
  command = apply

  variables {
    tags = { team = "payments" }
  }

  assert {
    condition     = aws_lambda_event_source_mapping.rejitter[0].tags["team"] == "payments"
    error_message = "the rejitter's event source mapping is tagged"
  }
  assert {
    condition     = aws_sns_topic.this[0].tags["team"] == "payments"
    error_message = "the topic is tagged"
  }
}

run "boundary_must_be_a_policy_arn" {
  command = plan

  variables {
    role_permissions_boundary = "boundary"
  }

  expect_failures = [var.role_permissions_boundary]
}

run "path_must_start_and_end_with_a_slash" {
  command = plan

  variables {
    role_path = "circuit-breakers"
  }

  expect_failures = [var.role_path]
}

run "path_without_empty_segments" {
  command = plan

  variables {
    role_path = "/a//b/"
  }

  expect_failures = [var.role_path]
}

run "prefix_at_most_12_characters" {
  command = plan

  variables {
    role_name_prefix = "abcdefghijklm"
  }

  expect_failures = [var.role_name_prefix]
}

run "role_name_characters" {
  command = plan

  variables {
    role_names = { probe = "orders probe" }
  }

  expect_failures = [var.role_names]
}

run "role_names_distinct" {
  command = plan

  variables {
    role_names = { probe = "orders-role", rejitter = "orders-role" }
  }

  expect_failures = [var.role_names]
}
