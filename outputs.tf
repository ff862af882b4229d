output "state_machine_arn" {
  description = "ARN of the circuit breaker's Step Functions state machine."
  value       = module.state_machine.state_machine_arn
}

output "state_machine_name" {
  description = "Name of the state machine."
  value       = module.state_machine.state_machine_name
}

output "state_machine_role_arn" {
  description = "ARN of the state machine's IAM role."
  value       = module.state_machine.role_arn
}

output "state_machine_log_group_name" {
  description = "Name of the state machine's execution log group."
  value       = module.state_machine.log_group_name
}

output "state_machine_definition" {
  description = "The rendered Amazon States Language definition (JSON)."
  value       = module.state_machine.definition
}

output "backoff_schedule" {
  description = "Precomputed backoff schedule in seconds: waits (un-jittered), base and spread (equal jitter: base + random(0, spread)) and the visibility timeout given to a message that failed each probe."
  value       = module.state_machine.backoff_schedule
}

output "alarm_arn" {
  description = "ARN of the alarm that opens the circuit (created, or the one passed in existing_alarm)."
  value       = local.create_alarm ? module.alarm[0].alarm_arn : var.existing_alarm.arn
}

output "alarm_name" {
  description = "Name of the alarm that opens the circuit."
  value       = local.alarm_name
}

output "event_rule_arn" {
  description = "ARN of the EventBridge rule that starts the state machine on ALARM."
  value       = module.trigger.rule_arn
}

output "event_rule_name" {
  description = "Name of the EventBridge rule."
  value       = module.trigger.rule_name
}

output "event_rule_role_arn" {
  description = "ARN of the IAM role the rule uses to start the state machine."
  value       = module.trigger.role_arn
}

output "execution_status_rule_arn" {
  description = "ARN of the EventBridge rule that notifies the topic when an execution ends ABORTED, TIMED_OUT or FAILED (null when notifications are off)."
  value       = module.trigger.status_rule_arn
}

output "probe_function_arn" {
  description = "ARN of the probe Lambda function."
  value       = module.probe.function_arn
}

output "probe_function_name" {
  description = "Name of the probe Lambda function."
  value       = module.probe.function_name
}

output "probe_role_arn" {
  description = "ARN of the probe function's IAM role."
  value       = module.probe.role_arn
}

output "rejitter_function_arn" {
  description = "ARN of the rejitter Lambda function (null when rejitter_enabled is false)."
  value       = var.rejitter_enabled ? module.rejitter[0].function_arn : null
}

output "rejitter_function_name" {
  description = "Name of the rejitter Lambda function (null when rejitter_enabled is false)."
  value       = var.rejitter_enabled ? module.rejitter[0].function_name : null
}

output "rejitter_role_arn" {
  description = "ARN of the rejitter function's IAM role (null when rejitter_enabled is false)."
  value       = var.rejitter_enabled ? module.rejitter[0].role_arn : null
}

output "rejitter_event_source_mapping_uuid" {
  description = "UUID of the rejitter's (normally disabled) event source mapping (null when rejitter_enabled is false)."
  value       = var.rejitter_enabled ? aws_lambda_event_source_mapping.rejitter[0].uuid : null
}

output "sns_topic_arn" {
  description = "ARN of the notification topic (created or passed in), or null when notifications are off."
  value       = local.notifications_enabled ? local.sns_topic_arn : null
}

output "metric_namespace" {
  description = "Namespace of the CircuitState metric (dimension Circuit = name; 1 open, 0 closed)."
  value       = var.metric_namespace
}

output "iam_policy_statements" {
  description = "Allow statements of each role's inline policy, by principal (state_machine, probe, rejitter, cleanup, events): for review and tests."
  value = {
    state_machine = module.state_machine.policy_statements
    probe         = module.probe.policy_statements
    rejitter      = var.rejitter_enabled ? module.rejitter[0].policy_statements : []
    cleanup       = module.state_machine.cleanup_policy_statements
    events = concat([{
      sid        = "StartThisStateMachine"
      actions    = ["states:StartExecution"]
      resources  = compact([module.state_machine.computed_state_machine_arn, module.state_machine.cleanup_state_machine_arn])
      conditions = []
      }], var.state_machine_kms_key_arn == null ? [] : [{
      sid       = "EncryptExecutionInput"
      actions   = ["kms:GenerateDataKey"]
      resources = [var.state_machine_kms_key_arn]
      conditions = [{
        test     = "StringEquals"
        variable = "kms:EncryptionContext:aws:states:stateMachineArn"
        values   = compact([module.state_machine.computed_state_machine_arn, module.state_machine.cleanup_state_machine_arn])
      }]
    }])
  }
}

output "delivery_dead_letter_queue_arn" {
  description = "ARN of the queue that receives the events EventBridge could not deliver (alarm -> state machine, execution status -> topic or cleanup); its alarm notifies the topic."
  value       = module.trigger.delivery_dlq_arn
}

output "delivery_failed_alarm_name" {
  description = "Name of the alarm on that queue (ALARM: an event was not delivered; the circuit may not have opened)."
  value       = module.trigger.delivery_alarm_name
}

output "cleanup_state_machine_arn" {
  description = "ARN of the state machine that turns the rejitter off when an execution ends stopped, timed out or failed (null without the rejitter)."
  value       = module.state_machine.cleanup_state_machine_arn
}

output "alarm_watch_seconds" {
  description = "How long an execution watches the alarm after a healthy close (see alarm_watch_seconds)."
  value       = local.watch_seconds
}

output "control_parameter_name" {
  description = "SSM parameter of the operator control marker (written by the state machine, through its probe function, on sqs-circuit-breaker open / close)."
  value       = module.state_machine.control_parameter_name
}

output "lease_table_name" {
  description = "DynamoDB table of the episode lease: which execution owns the circuit now (single flight; written by the state machine and its probe function)."
  value       = module.state_machine.lease_table_name
}

output "settings_parameter_name" {
  description = "SSM parameter of the mapping settings remembered at the last open."
  value       = module.state_machine.settings_parameter_name
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard (create_dashboard), or null."
  value       = module.observability.dashboard_name
}

output "breaker_alarm_names" {
  description = "Names of the alarms on the breaker itself (execution_failed, open_too_long, trigger_failed; null when not created)."
  value       = module.observability.alarm_names
}

output "descriptor" {
  description = "The circuit's descriptor, as published in descriptor_parameter_name (JSON): schema `sqs-circuit-breaker/descriptor`, `version` 1, and the resources operator tools need (state machine, mapping, queue, function, alarm, control and settings parameters, lease table, rejitter mapping, topic, cleanup state machine). The sqs-circuit-breaker CLI reads it."
  value       = module.state_machine.descriptor
}

output "descriptor_parameter_name" {
  description = "SSM parameter that publishes the circuit's descriptor (`/sqs-circuit-breaker/<name>/descriptor`)."
  value       = module.state_machine.descriptor_parameter_name
}
