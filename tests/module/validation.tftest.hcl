# Every validation rejects its bad input (plan fails on exactly that check).
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

run "name_too_long" {
  command = plan

  variables {
    name = "a234567890123456789012345678901234567890x"
  }

  expect_failures = [var.name]
}

run "name_bad_chars" {
  command = plan

  variables {
    name = "orders.v2"
  }

  expect_failures = [var.name]
}

run "name_empty" {
  command = plan

  variables {
    name = ""
  }

  expect_failures = [var.name]
}

run "function_name_bad" {
  command = plan

  variables {
    function_name = "not a function"
  }

  expect_failures = [var.function_name]
}

run "mapping_uuid_bad" {
  command = plan

  variables {
    event_source_mapping_uuid = "not-a-uuid"
  }

  expect_failures = [var.event_source_mapping_uuid]
}

run "queue_arn_bad" {
  command = plan

  variables {
    queue_arn = "arn:aws:sns:eu-west-1:123456789012:orders"
  }

  expect_failures = [var.queue_arn]
}

run "queue_url_bad" {
  command = plan

  variables {
    queue_url = "orders"
  }

  expect_failures = [var.queue_url]
}

run "queue_kms_bad" {
  command = plan

  variables {
    queue_kms_key_arn = "alias/foo"
  }

  expect_failures = [var.queue_kms_key_arn]
}

run "threshold_zero" {
  command = plan

  variables {
    alarm_threshold_percent = 0
  }

  expect_failures = [var.alarm_threshold_percent]
}

run "threshold_over_100" {
  command = plan

  variables {
    alarm_threshold_percent = 101
  }

  expect_failures = [var.alarm_threshold_percent]
}

run "min_invocations_zero" {
  command = plan

  variables {
    alarm_min_invocations = 0
  }

  expect_failures = [var.alarm_min_invocations]
}

run "period_10_never_alarms_on_lambda_metrics" {
  command = plan

  variables {
    alarm_period_seconds = 10
  }

  expect_failures = [var.alarm_period_seconds]
}

run "period_90" {
  command = plan

  variables {
    alarm_period_seconds = 90
  }

  expect_failures = [var.alarm_period_seconds]
}

run "evaluation_periods_zero" {
  command = plan

  variables {
    alarm_evaluation_periods = 0
  }

  expect_failures = [var.alarm_evaluation_periods]
}

run "datapoints_zero" {
  command = plan

  variables {
    alarm_datapoints_to_alarm = 0
  }

  expect_failures = [var.alarm_datapoints_to_alarm]
}

run "datapoints_over_periods" {
  command = plan

  variables {
    alarm_datapoints_to_alarm = 3
    alarm_evaluation_periods  = 2
  }

  expect_failures = [terraform_data.input_checks]
}

run "existing_alarm_bad_arn" {
  command = plan

  variables {
    existing_alarm = { arn = "mine", name = "mine" }
  }

  expect_failures = [var.existing_alarm]
}

run "open_wait_negative" {
  command = plan

  variables {
    open_wait_seconds = -1
  }

  expect_failures = [var.open_wait_seconds]
}

run "backoff_initial_zero" {
  command = plan

  variables {
    backoff_initial_seconds = 0
  }

  expect_failures = [var.backoff_initial_seconds]
}

run "backoff_rate_below_1" {
  command = plan

  variables {
    backoff_rate = 0.5
  }

  expect_failures = [var.backoff_rate]
}

run "backoff_max_zero" {
  command = plan

  variables {
    backoff_max_seconds = 0
  }

  expect_failures = [var.backoff_max_seconds]
}

run "backoff_cap_below_initial" {
  command = plan

  variables {
    backoff_initial_seconds = 120
    backoff_max_seconds     = 60
  }

  expect_failures = [terraform_data.input_checks]
}

run "attempts_zero" {
  command = plan

  variables {
    probe_max_attempts = 0
  }

  expect_failures = [var.probe_max_attempts]
}

run "attempts_fractional" {
  command = plan

  variables {
    probe_max_attempts = 1.5
  }

  expect_failures = [var.probe_max_attempts]
}

run "probe_mode_bad" {
  command = plan

  variables {
    probe_mode = "random"
  }

  expect_failures = [var.probe_mode]
}

run "synthetic_without_body" {
  command = plan

  variables {
    probe_mode = "synthetic"
  }

  expect_failures = [terraform_data.input_checks]
}

run "probe_wait_time_21" {
  command = plan

  variables {
    probe_wait_time_seconds = 21
  }

  expect_failures = [var.probe_wait_time_seconds]
}

run "visibility_margin_negative" {
  command = plan

  variables {
    probe_failure_visibility_margin_seconds = -5
  }

  expect_failures = [var.probe_failure_visibility_margin_seconds]
}

run "probe_timeout_over_900" {
  command = plan

  variables {
    probe_timeout_seconds = 901
  }

  expect_failures = [var.probe_timeout_seconds]
}

run "retention_margin_negative" {
  command = plan

  variables {
    retention_margin_seconds = -1
  }

  expect_failures = [var.retention_margin_seconds]
}

run "give_up_action_bad" {
  command = plan

  variables {
    give_up_action = "retry"
  }

  expect_failures = [var.give_up_action]
}

run "half_open_concurrency_1" {
  command = plan

  variables {
    half_open_max_concurrency = 1
  }

  expect_failures = [var.half_open_max_concurrency]
}

run "half_open_concurrency_1001" {
  command = plan

  variables {
    half_open_max_concurrency = 1001
  }

  expect_failures = [var.half_open_max_concurrency]
}

run "half_open_seconds_zero" {
  command = plan

  variables {
    half_open_seconds = 0
  }

  expect_failures = [var.half_open_seconds]
}

run "rejitter_window_zero" {
  command = plan

  variables {
    rejitter_window_seconds = 0
  }

  expect_failures = [var.rejitter_window_seconds]
}

run "rejitter_min_delay_negative" {
  command = plan

  variables {
    rejitter_min_delay_seconds = -1
  }

  expect_failures = [var.rejitter_min_delay_seconds]
}

run "rejitter_max_delay_901" {
  command = plan

  variables {
    rejitter_max_delay_seconds = 901
  }

  expect_failures = [var.rejitter_max_delay_seconds]
}

run "rejitter_min_above_max" {
  command = plan

  variables {
    rejitter_enabled           = true
    rejitter_min_delay_seconds = 100
    rejitter_max_delay_seconds = 10
  }

  expect_failures = [terraform_data.input_checks]
}

run "rejitter_batch_size_11" {
  command = plan

  variables {
    rejitter_batch_size = 11
  }

  expect_failures = [var.rejitter_batch_size]
}

run "rejitter_refused_on_fifo" {
  command = plan

  variables {
    rejitter_enabled = true
    queue_arn        = "arn:aws:sqs:eu-west-1:123456789012:orders.fifo"
    queue_url        = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo"
  }

  expect_failures = [terraform_data.input_checks]
}

run "queue_url_and_arn_mismatch" {
  command = plan

  variables {
    queue_url = "https://sqs.eu-west-1.amazonaws.com/123456789012/other"
  }

  expect_failures = [terraform_data.input_checks]
}

run "stay_open_without_notifications" {
  command = plan

  variables {
    create_sns_topic = false
    give_up_action   = "stay_open"
  }

  expect_failures = [terraform_data.input_checks]
}

run "close_without_notifications_is_fine" {
  command = plan

  variables {
    create_sns_topic = false
    give_up_action   = "close"
  }
}

run "queue_kms_alias_arn" {
  command = plan

  variables {
    queue_kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:alias/queue"
  }

  expect_failures = [var.queue_kms_key_arn]
}

run "sns_kms_alias_arn" {
  command = plan

  variables {
    sns_kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:alias/topic"
  }

  expect_failures = [var.sns_kms_key_arn]
}

run "log_kms_alias_arn" {
  command = plan

  variables {
    log_kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:alias/logs"
  }

  expect_failures = [var.log_kms_key_arn]
}

run "existing_alarm_arn_and_name_differ" {
  command = plan

  variables {
    existing_alarm = {
      arn  = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:mine"
      name = "other"
    }
  }

  expect_failures = [var.existing_alarm]
}

run "existing_alarm_name_is_only_a_suffix" {
  command = plan

  variables {
    existing_alarm = {
      arn  = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:not-mine"
      name = "mine"
    }
  }

  expect_failures = [var.existing_alarm]
}

run "backoff_cap_plus_margin_over_sqs_visibility_max" {
  command = plan

  variables {
    backoff_max_seconds                     = 43200
    probe_failure_visibility_margin_seconds = 1
  }

  expect_failures = [terraform_data.input_checks]
}

run "backoff_cap_plus_margin_plus_probe_at_sqs_visibility_max_is_fine" {
  command = plan

  variables {
    backoff_max_seconds                     = 42990
    probe_failure_visibility_margin_seconds = 30
    probe_timeout_seconds                   = 120
  }
}

run "visibility_limit_counts_from_the_receive" {
  command = plan

  variables {
    # 43170 + 30 <= 43200, but the probe changes the visibility up to 120 + 60 s after receiving
    backoff_max_seconds                     = 43170
    probe_failure_visibility_margin_seconds = 30
  }

  expect_failures = [terraform_data.input_checks]
}

run "rejitter_timeout_bad" {
  command = plan

  variables {
    rejitter_timeout_seconds = 1
  }

  expect_failures = [var.rejitter_timeout_seconds]
}

run "rejitter_concurrency_bad" {
  command = plan

  variables {
    rejitter_max_concurrency = 1
  }

  expect_failures = [var.rejitter_max_concurrency]
}

run "dead_letter_queue_arn_bad" {
  command = plan

  variables {
    dead_letter_queue_arn = "https://sqs.eu-west-1.amazonaws.com/123456789012/dlq"
  }

  expect_failures = [var.dead_letter_queue_arn]
}

run "existing_alarm_window_bad" {
  command = plan

  variables {
    existing_alarm = {
      arn            = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:mine"
      name           = "mine"
      period_seconds = 5
    }
  }

  expect_failures = [var.existing_alarm]
}

run "backoff_cap_over_visibility_max_is_fine_on_fifo" {
  command = plan

  variables {
    queue_arn           = "arn:aws:sqs:eu-west-1:123456789012:orders.fifo"
    queue_url           = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo"
    backoff_max_seconds = 86400
  }
}

run "sns_topic_arn_bad" {
  command = plan

  variables {
    sns_topic_arn = "ops"
  }

  expect_failures = [var.sns_topic_arn]
}

run "sns_kms_bad" {
  command = plan

  variables {
    sns_kms_key_arn = "key"
  }

  expect_failures = [var.sns_kms_key_arn]
}

run "metric_namespace_aws" {
  command = plan

  variables {
    metric_namespace = "AWS/Lambda"
  }

  expect_failures = [var.metric_namespace]
}

run "log_retention_bad" {
  command = plan

  variables {
    log_retention_days = 2
  }

  expect_failures = [var.log_retention_days]
}

run "log_level_bad" {
  command = plan

  variables {
    log_level = "DEBUG"
  }

  expect_failures = [var.log_level]
}

run "log_kms_bad" {
  command = plan

  variables {
    log_kms_key_arn = "key"
  }

  expect_failures = [var.log_kms_key_arn]
}

run "lambda_architecture_bad" {
  command = plan

  variables {
    lambda_architecture = "mips"
  }

  expect_failures = [var.lambda_architecture]
}

run "fifo_queue_without_rejitter_is_fine" {
  command = plan

  variables {
    queue_arn = "arn:aws:sqs:eu-west-1:123456789012:orders.fifo"
    queue_url = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo"
  }
}

run "edge_values_are_accepted" {
  command = plan

  variables {
    name                      = "a234567890123456789012345678901234567890"
    alarm_period_seconds      = 120
    alarm_threshold_percent   = 100
    backoff_rate              = 1
    half_open_max_concurrency = 2
    probe_mode                = "synthetic"
    probe_synthetic_body      = "{}"
    function_name             = "arn:aws:lambda:eu-west-1:123456789012:function:orders-consumer"
    queue_kms_key_arn         = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    sns_kms_key_arn           = "arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab"
  }
}

# The probe invokes the function synchronously: its timeout must cover the function's timeout, the
# long poll and the hand-back (10 s), or Lambda would end the probe mid-invoke and the breaker
# would close while the function hangs. The first apply creates the circuit (the function's
# timeout is read during that apply: it may be created in the same apply); from then on every plan
# reads it and refuses a probe that cannot cover it.
run "probe_timeout_that_covers_the_function_is_accepted" {
  command = apply

  variables {
    probe_timeout_seconds   = 120
    probe_wait_time_seconds = 2
  }

  override_data {
    target = data.aws_lambda_function.protected
    values = { timeout = 108 }
  }
}

run "probe_timeout_shorter_than_the_function_is_refused_at_plan" {
  command = plan

  variables {
    probe_timeout_seconds   = 120
    probe_wait_time_seconds = 2
  }

  override_data {
    target = data.aws_lambda_function.protected
    values = { timeout = 109 }
  }

  expect_failures = [data.aws_lambda_function.protected]
}

run "transition_events_need_4_more_seconds_of_probe_time" {
  command = plan

  variables {
    probe_timeout_seconds   = 120
    probe_wait_time_seconds = 2
    transition_event_bus    = "default"
  }

  override_data {
    target = data.aws_lambda_function.protected
    values = { timeout = 105 }
  }

  expect_failures = [data.aws_lambda_function.protected]
}

run "transition_events_with_the_time_they_need_are_accepted" {
  command = plan

  variables {
    probe_timeout_seconds   = 120
    probe_wait_time_seconds = 2
    transition_event_bus    = "default"
  }

  override_data {
    target = data.aws_lambda_function.protected
    values = { timeout = 104 }
  }
}

run "transition_event_bus_in_another_region" {
  command = plan

  variables {
    transition_event_bus = "arn:aws:events:us-east-1:123456789012:event-bus/ops"
  }

  expect_failures = [terraform_data.input_checks]
}

run "transition_event_bus_bad_name" {
  command = plan

  variables {
    transition_event_bus = "my bus"
  }

  expect_failures = [var.transition_event_bus]
}

run "transition_event_bus_bad_arn" {
  command = plan

  variables {
    transition_event_bus = "arn:aws:sns:eu-west-1:123456789012:event-bus/x"
  }

  expect_failures = [var.transition_event_bus]
}
