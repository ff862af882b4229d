# Compliance options: X-Ray on the functions (tracing_enabled), the probe's reserved concurrency,
# code signing, VPC placement, the state machines' customer-managed key and the functions'
# LOG_LEVEL reach the resources, with exactly the IAM they need; defaults cost nothing.
mock_provider "aws" {
  source = "./tests/module/mocks"
}

variables {
  name                      = "orders"
  function_name             = "orders-consumer"
  event_source_mapping_uuid = "0f6e1d2c-3b4a-4958-8a7b-6c5d4e3f2a1b"
  queue_arn                 = "arn:aws:sqs:eu-west-1:123456789012:orders"
  queue_url                 = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders"
  rejitter_enabled          = true
}

run "defaults_are_free_and_need_no_setup" {
  command = apply

  assert {
    condition     = module.probe.tracing_mode == "PassThrough" && module.rejitter[0].tracing_mode == "PassThrough"
    error_message = "no active tracing by default"
  }
  assert {
    condition     = module.probe.reserved_concurrency == -1 && module.probe.code_signing_config_arn == null
    error_message = "no reserved concurrency nor code signing by default"
  }
  assert {
    condition     = !module.probe.vpc_config.applied && !module.rejitter[0].vpc_config.applied
    error_message = "outside a VPC by default"
  }
  assert {
    condition     = module.state_machine.encryption.main == [] && module.state_machine.encryption.cleanup == []
    error_message = "the AWS-owned key by default"
  }
  assert {
    condition     = module.probe.environment.LOG_LEVEL == "INFO" && module.rejitter[0].environment.LOG_LEVEL == "INFO"
    error_message = "LOG_LEVEL INFO by default"
  }
  assert {
    condition     = length([for p, ss in output.iam_policy_statements : p if anytrue([for s in ss : anytrue([for a in s.actions : startswith(a, "ec2:") || startswith(a, "xray:") || startswith(a, "kms:")])])]) == 0
    error_message = "no X-Ray, VPC or KMS permission by default"
  }
}

run "tracing_follows_tracing_enabled" {
  command = apply

  variables {
    tracing_enabled = true
  }

  assert {
    condition     = module.probe.tracing_mode == "Active" && module.rejitter[0].tracing_mode == "Active"
    error_message = "both functions trace actively"
  }
  assert {
    condition     = alltrue([for p in ["probe", "rejitter"] : contains(flatten([for s in output.iam_policy_statements[p] : s.actions]), "xray:PutTraceSegments")])
    error_message = "both functions' roles may write traces"
  }
}

run "reserved_concurrency_and_code_signing" {
  command = apply

  variables {
    probe_reserved_concurrency = 2
    code_signing_config_arn    = "arn:aws:lambda:eu-west-1:123456789012:code-signing-config:csc-0123456789abcdef0"
  }

  assert {
    condition     = module.probe.reserved_concurrency == 2 && module.rejitter[0].reserved_concurrency == -1
    error_message = "the probe (only) reserves concurrency"
  }
  assert {
    condition     = module.probe.code_signing_config_arn == var.code_signing_config_arn && module.rejitter[0].code_signing_config_arn == var.code_signing_config_arn
    error_message = "both functions use the code signing configuration"
  }
}

run "vpc" {
  command = apply

  variables {
    vpc_subnet_ids         = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
    vpc_security_group_ids = ["sg-0123456789abcdef0"]
  }

  assert {
    condition     = module.probe.vpc_config.applied && module.rejitter[0].vpc_config.applied && module.probe.vpc_config.subnet_ids == toset(var.vpc_subnet_ids) && module.rejitter[0].vpc_config.security_group_ids == toset(var.vpc_security_group_ids)
    error_message = "both functions run in the given subnets and security groups"
  }
  # Lambda checks the role's ENI permissions at CreateFunction without a subnet or security-group
  # context: the documented requirement (AWSLambdaVPCAccessExecutionRole) is these actions on "*".
  assert {
    condition = alltrue([
      for principal in ["probe", "rejitter"] :
      one([for s in output.iam_policy_statements[principal] : s if s.sid == "VpcNetworkInterfaces"]).resources[0] == "*" &&
      toset(one([for s in output.iam_policy_statements[principal] : s if s.sid == "VpcNetworkInterfaces"]).actions) == toset([
        "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses",
      ])
    ])
    error_message = "both roles hold exactly the six ENI actions of AWSLambdaVPCAccessExecutionRole, on \"*\""
  }
  assert {
    condition     = [for s in output.iam_policy_statements.rejitter : s.sid if contains(s.resources, "*")] == ["VpcNetworkInterfaces"]
    error_message = "only the ENI statement (checked by Lambda without a resource context) uses \"*\""
  }
}

run "vpc_needs_both_subnets_and_security_groups" {
  command = plan

  variables {
    vpc_subnet_ids = ["subnet-0123456789abcdef0"]
  }

  expect_failures = [terraform_data.input_checks]
}

run "state_machine_customer_managed_key" {
  command = apply

  variables {
    state_machine_kms_key_arn                = "arn:aws:kms:eu-west-1:123456789012:key/sfn"
    state_machine_kms_data_key_reuse_seconds = 600
  }

  assert {
    condition = alltrue([for k in ["main", "cleanup"] : module.state_machine.encryption[k] == [{
      type = "CUSTOMER_MANAGED_KMS_KEY", kms_key_id = "arn:aws:kms:eu-west-1:123456789012:key/sfn", reuse = 600
    }]])
    error_message = "both state machines are encrypted with the key"
  }
  assert {
    condition = one([for s in output.iam_policy_statements.state_machine : s if s.sid == "StateMachineEncryptionKey"]) == {
      sid       = "StateMachineEncryptionKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = ["arn:aws:kms:eu-west-1:123456789012:key/sfn"]
      conditions = [{
        test     = "StringEquals"
        variable = "kms:EncryptionContext:aws:states:stateMachineArn"
        values   = ["arn:aws:states:eu-west-1:123456789012:stateMachine:orders-circuit-breaker"]
      }]
    }
    error_message = "the state machine's role may use the key for its own state machine only"
  }
  assert {
    condition     = one([for s in output.iam_policy_statements.events : s.actions if s.sid == "EncryptExecutionInput"]) == ["kms:GenerateDataKey"]
    error_message = "EventBridge may encrypt the input of the executions it starts"
  }
}

run "lambda_log_level" {
  command = apply

  variables {
    lambda_log_level = "DEBUG"
  }

  assert {
    condition     = module.probe.environment.LOG_LEVEL == "DEBUG" && module.rejitter[0].environment.LOG_LEVEL == "DEBUG"
    error_message = "LOG_LEVEL reaches both functions"
  }
}

run "bad_lambda_log_level" {
  command = plan

  variables {
    lambda_log_level = "TRACE"
  }

  expect_failures = [var.lambda_log_level]
}

run "bad_reserved_concurrency" {
  command = plan

  variables {
    probe_reserved_concurrency = 0
  }

  expect_failures = [var.probe_reserved_concurrency]
}

run "bad_code_signing_config_arn" {
  command = plan

  variables {
    code_signing_config_arn = "arn:aws:lambda:eu-west-1:123456789012:function:x"
  }

  expect_failures = [var.code_signing_config_arn]
}

run "bad_subnet_id" {
  command = plan

  variables {
    vpc_subnet_ids         = ["vpc-0123456789abcdef0"]
    vpc_security_group_ids = ["sg-0123456789abcdef0"]
  }

  expect_failures = [var.vpc_subnet_ids]
}

run "bad_state_machine_key" {
  command = plan

  variables {
    state_machine_kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:alias/sfn"
  }

  expect_failures = [var.state_machine_kms_key_arn]
}

run "bad_data_key_reuse" {
  command = plan

  variables {
    state_machine_kms_data_key_reuse_seconds = 30
  }

  expect_failures = [var.state_machine_kms_data_key_reuse_seconds]
}
