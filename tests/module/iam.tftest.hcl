# Least privilege: no wildcard action anywhere, every resource scoped except where AWS requires "*"
# (and then only for the documented statements), and the rendered policy JSON says the same.
mock_provider "aws" {
  source = "./tests/module/mocks"
}

# The real provider renders aws_iam_policy_document locally: used, offline and without credentials,
# for the run that checks the policy JSON itself. Only STS (caller identity) would need the network.
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
  create_sns_topic          = true
  tracing_enabled           = true
  queue_kms_key_arn         = "arn:aws:kms:eu-west-1:123456789012:key/queue"
  sns_kms_key_arn           = "arn:aws:kms:eu-west-1:123456789012:key/topic"
  dead_letter_queue_arn     = "arn:aws:sqs:eu-west-1:123456789012:orders-dlq"
  dlq_kms_key_arn           = "arn:aws:kms:eu-west-1:123456789012:key/dlq"
}

run "rendered_policy_json" {
  # First run: nothing in state yet, so the real provider has nothing to refresh (no network).
  command = plan

  plan_options {
    refresh = false
  }

  providers = {
    aws = aws.offline
  }

  # The rejitter mapping's UUID is only known after apply; everything else is known at plan.
  variables {
    rejitter_enabled = false
  }

  # The provider validates a known definition with an API call at plan time: not offline.
  override_resource {
    target = module.state_machine.aws_sfn_state_machine.this
  }

  override_data {
    target = data.aws_caller_identity.current
    values = {
      account_id = "123456789012"
    }
  }

  assert {
    condition = alltrue(flatten([
      for doc in [module.state_machine.policy_json] : [
        for s in jsondecode(doc).Statement : [for a in flatten([s.Action]) : !strcontains(a, "*")]
      ]
    ]))
    error_message = "the rendered state machine policy contains a wildcard action"
  }

  assert {
    condition     = length(jsondecode(module.state_machine.policy_json).Statement) == length(module.state_machine.policy_statements)
    error_message = "every statement is rendered"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(module.state_machine.policy_json).Statement :
      flatten([s.Resource]) != ["*"] || contains(["PublishCircuitStateMetric", "ExecutionLogDelivery", "XRayTracing"], s.Sid)
    ])
    error_message = "the rendered policy uses Resource \"*\" outside the documented statements"
  }

  assert {
    condition     = one([for s in jsondecode(module.state_machine.policy_json).Statement : s.Condition.StringEquals["cloudwatch:namespace"] if s.Sid == "PublishCircuitStateMetric"]) == "SqsCircuitBreaker"
    error_message = "the rendered PutMetricData statement keeps its namespace condition"
  }

  # CloudWatch alarm actions publish as cloudwatch.amazonaws.com: the created topic's policy must
  # let exactly the breaker's own alarms (every one that notifies the topic) publish.
  assert {
    condition = toset(one([
      for s in jsondecode(data.aws_iam_policy_document.topic[0].json).Statement :
      flatten([s.Condition.ArnEquals["aws:SourceArn"]]) if try(s.Principal.Service, "") == "cloudwatch.amazonaws.com"
      ])) == toset([
      for n in concat([output.delivery_failed_alarm_name], values(output.breaker_alarm_names)) :
      "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:${n}"
    ])
    error_message = "the topic policy must allow cloudwatch.amazonaws.com to publish for every breaker alarm, and only those"
  }

  assert {
    condition = one([
      for s in jsondecode(data.aws_iam_policy_document.topic[0].json).Statement :
      [s.Action, s.Condition.StringEquals["aws:SourceAccount"]] if try(s.Principal.Service, "") == "cloudwatch.amazonaws.com"
    ]) == ["sns:Publish", "123456789012"]
    error_message = "CloudWatch may only publish, on behalf of this account"
  }
}

run "statements_are_least_privilege" {
  command = apply

  # No action wildcards at all ("*", "sqs:*", "lambda:Get*", ...).
  assert {
    condition = alltrue(flatten([
      for principal, statements in output.iam_policy_statements : [
        for s in statements : [for a in s.actions : !strcontains(a, "*")]
      ]
    ]))
    error_message = "an IAM action contains a wildcard"
  }

  # "*" resources only where AWS offers no resource-level permission.
  assert {
    condition = toset(flatten([
      for principal, statements in output.iam_policy_statements : [
        for s in statements : "${principal}/${s.sid}" if contains(s.resources, "*")
      ]
    ])) == toset(["state_machine/PublishCircuitStateMetric", "state_machine/ExecutionLogDelivery", "state_machine/XRayTracing", "probe/XRayTracing", "probe/JudgeMappingFilters", "probe/PublishOpenHeartbeat", "rejitter/XRayTracing", "cleanup/XRayTracing"])
    error_message = "a statement that could be scoped uses Resource \"*\""
  }

  # PutMetricData is pinned to the module's namespace.
  assert {
    condition     = one([for s in output.iam_policy_statements.state_machine : s.conditions[0].values if s.sid == "PublishCircuitStateMetric"]) == ["SqsCircuitBreaker"]
    error_message = "PutMetricData must be restricted to the metric namespace"
  }

  # Every other resource is an exact ARN (no wildcard except the documented :* suffixes for
  # function qualifiers and log streams).
  assert {
    condition = alltrue(flatten([
      for principal, statements in output.iam_policy_statements : [
        for s in statements : [
          for r in s.resources : r == "*" || !strcontains(trimsuffix(r, ":*"), "*")
        ]
      ]
    ]))
    error_message = "a resource ARN contains a wildcard"
  }

  assert {
    condition = toset(flatten([for s in output.iam_policy_statements.state_machine : s.resources if contains(s.actions, "lambda:UpdateEventSourceMapping")])) == toset([
      "arn:aws:lambda:eu-west-1:123456789012:event-source-mapping:0f6e1d2c-3b4a-4958-8a7b-6c5d4e3f2a1b",
      "arn:aws:lambda:eu-west-1:123456789012:event-source-mapping:11111111-2222-4333-8444-555555555555",
    ])
    error_message = "the state machine may update exactly the protected and the rejitter mapping"
  }

  assert {
    condition     = length(flatten([for s in output.iam_policy_statements.state_machine : s.resources if contains(s.actions, "states:ListExecutions")])) == 0
    error_message = "single flight is the lease: the state machine lists no executions"
  }

  assert {
    condition     = flatten([for s in output.iam_policy_statements.state_machine : s.resources if contains(s.actions, "states:GetExecutionHistory")]) == ["arn:aws:states:eu-west-1:123456789012:execution:orders-circuit-breaker:*"]
    error_message = "the state machine reads only its own executions' histories (the event count)"
  }

  assert {
    condition     = flatten([for s in output.iam_policy_statements.state_machine : s.resources if contains(s.actions, "cloudwatch:SetAlarmState")]) == ["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:orders-cb-error-rate"]
    error_message = "the state machine may reset only its alarm"
  }

  assert {
    condition     = flatten([for s in output.iam_policy_statements.events : s.actions]) == ["states:StartExecution"] && flatten([for s in output.iam_policy_statements.events : s.resources]) == ["arn:aws:states:eu-west-1:123456789012:stateMachine:orders-circuit-breaker", "arn:aws:states:eu-west-1:123456789012:stateMachine:orders-circuit-breaker-cleanup"]
    error_message = "the rules' role may only start this state machine and (with the rejitter) its cleanup"
  }

  # Both state machines have tracing_configuration.enabled = tracing_enabled: both roles need X-Ray.
  assert {
    condition = alltrue([
      for principal in ["state_machine", "cleanup"] :
      toset(flatten([for s in output.iam_policy_statements[principal] : s.actions if s.sid == "XRayTracing"])) == toset(["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"])
    ])
    error_message = "with tracing_enabled, both state machines' roles may send traces and read sampling rules"
  }

  assert {
    condition     = toset(flatten([for s in output.iam_policy_statements.rejitter : s.actions if contains(s.resources, "arn:aws:kms:eu-west-1:123456789012:key/dlq")])) == toset(["kms:Decrypt", "kms:GenerateDataKey"])
    error_message = "the rejitter may encrypt what it moves to a DLQ that has a key of its own"
  }

  assert {
    condition     = contains(flatten([for s in output.iam_policy_statements.rejitter : s.actions]), "sqs:SendMessage") && !contains(flatten([for s in output.iam_policy_statements.probe : s.actions]), "sqs:SendMessage")
    error_message = "only the rejitter sends messages"
  }

  assert {
    condition     = contains(flatten([for s in output.iam_policy_statements.probe : s.resources if contains(s.actions, "kms:Decrypt")]), "arn:aws:kms:eu-west-1:123456789012:key/queue")
    error_message = "the probe may decrypt the queue's messages"
  }

  assert {
    condition     = toset(flatten([for s in output.iam_policy_statements.rejitter : s.actions if contains(s.resources, "arn:aws:kms:eu-west-1:123456789012:key/queue")])) == toset(["kms:Decrypt", "kms:GenerateDataKey"])
    error_message = "the rejitter may decrypt and re-encrypt the queue's messages"
  }
}
