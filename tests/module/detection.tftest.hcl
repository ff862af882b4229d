# The alarm's signals: the function's errors (default, unchanged), the mapping's failed events
# (partial batch failures) and slow calls; each refused at plan time where it cannot work.
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

run "default_alarm_is_the_error_rate_alone" {
  command = apply

  assert {
    condition     = [for q in module.alarm[0].metric_queries : q.id if q.return_data] == ["error_rate"] && length(module.alarm[0].metric_queries) == 3
    error_message = "by default the alarm is today's error rate: m1, m2 and error_rate"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.Probe.Parameters.Payload.request.slowCallMs == null
    error_message = "by default the probe does not judge durations"
  }
  assert {
    condition     = length(jsondecode(module.observability.dashboard_body).widgets[2].properties.metrics) == 3
    error_message = "by default the dashboard draws the error rate alone"
  }
}

run "mapping_events_adds_the_failed_events_of_the_mapping" {
  command = apply

  variables {
    alarm_failure_signal         = "mapping_events"
    event_source_mapping_metrics = ["EventCount"]
    alarm_min_invocations        = 4
  }

  assert {
    condition     = [for q in module.alarm[0].metric_queries : q.id if q.return_data] == ["failure_rate"]
    error_message = "only the worst signal returns data"
  }
  assert {
    condition     = one([for q in module.alarm[0].metric_queries : q.expression if q.id == "failure_rate"]) == "IF(error_rate > event_failure_rate, error_rate, event_failure_rate)"
    error_message = "the alarm judges the worse of the error rate and the failed events"
  }
  assert {
    condition     = one([for q in module.alarm[0].metric_queries : q.expression if q.id == "event_failure_rate"]) == "IF(FILL(e2, 0) >= 4, 100 * FILL(e1, 0) / e2, 0)" && one([for q in module.alarm[0].metric_queries : q.expression if q.id == "error_rate"]) == "IF(FILL(m2, 0) >= 4, 100 * FILL(m1, 0) / m2, 0)"
    error_message = "each signal has the volume floor; a missing series counts as no traffic, not as a missing datapoint"
  }
  assert {
    condition = toset([for q in module.alarm[0].metric_queries : "${q.id}=${q.metric_name}/${q.stat}/${jsonencode(q.dimensions)}" if q.metric_name != null]) == toset([
      "m1=Errors/Sum/{\"FunctionName\":\"orders-consumer\"}",
      "m2=Invocations/Sum/{\"FunctionName\":\"orders-consumer\"}",
      "e1=FailedInvokeEventCount/Sum/{\"EventSourceMappingUUID\":\"0f6e1d2c-3b4a-4958-8a7b-6c5d4e3f2a1b\"}",
      "e2=InvokedEventCount/Sum/{\"EventSourceMappingUUID\":\"0f6e1d2c-3b4a-4958-8a7b-6c5d4e3f2a1b\"}",
    ])
    error_message = "the mapping's event counts are read per mapping UUID"
  }
}

run "slow_calls_add_the_share_of_slow_calls" {
  command = apply

  variables {
    slow_call_duration_threshold_ms  = 1500
    slow_call_rate_threshold_percent = 80
  }

  assert {
    condition     = one([for q in module.alarm[0].metric_queries : "${q.metric_name}/${q.stat}" if q.id == "d1"]) == "Duration/PR(0:1500)"
    error_message = "the slow calls are read as the percentile rank of Duration at the threshold"
  }
  assert {
    condition     = one([for q in module.alarm[0].metric_queries : q.expression if q.id == "slow_call_rate"]) == "IF(FILL(m2, 0) >= 5, (100 - FILL(d1, 100)) * 0.625, 0)"
    error_message = "the slow-call rate is scaled so that its 80 % meets the failure threshold of 50 %"
  }
  assert {
    condition     = one([for q in module.alarm[0].metric_queries : q.expression if q.id == "failure_rate"]) == "IF(error_rate > slow_call_rate, error_rate, slow_call_rate)"
    error_message = "the alarm judges the worse of the error rate and the slow calls"
  }
  assert {
    condition     = jsondecode(output.state_machine_definition).States.Probe.Parameters.Payload.request.slowCallMs == 1500
    error_message = "a probe slower than the threshold is unhealthy"
  }
}

run "all_three_signals" {
  command = apply

  variables {
    alarm_failure_signal            = "mapping_events"
    event_source_mapping_metrics    = ["EventCount"]
    slow_call_duration_threshold_ms = 800
  }

  assert {
    condition     = one([for q in module.alarm[0].metric_queries : q.expression if q.id == "failure_rate"]) == "IF(error_rate > event_failure_rate, IF(error_rate > slow_call_rate, error_rate, slow_call_rate), IF(event_failure_rate > slow_call_rate, event_failure_rate, slow_call_rate))"
    error_message = "the worst of three signals"
  }
  assert {
    condition     = one([for q in module.alarm[0].metric_queries : q.expression if q.id == "slow_call_rate"]) == "IF(FILL(m2, 0) >= 5, 100 - FILL(d1, 100), 0)"
    error_message = "without its own threshold the slow-call rate is judged at the failure threshold, unscaled"
  }
  assert {
    condition     = length(module.alarm[0].metric_queries) <= 10
    error_message = "within CloudWatch's metric queries per alarm"
  }
  assert {
    condition     = length([for m in jsondecode(module.observability.dashboard_body).widgets[2].properties.metrics : m if try(m[0].id, "") == "eventrate" || try(m[0].id, "") == "slow"]) == 2 && strcontains(module.observability.dashboard_body, "PR(0:800)") && strcontains(module.observability.dashboard_body, "0f6e1d2c-3b4a-4958-8a7b-6c5d4e3f2a1b")
    error_message = "the dashboard draws what the alarm judges: the mapping's failed events and the slow calls, next to the error rate"
  }
}

run "mapping_events_without_the_mapping_metrics_is_refused" {
  command = plan

  variables {
    alarm_failure_signal = "mapping_events"
  }

  expect_failures = [terraform_data.input_checks]
}

run "mapping_events_with_a_mapping_that_does_not_publish_event_counts_is_refused" {
  command = plan

  variables {
    alarm_failure_signal         = "mapping_events"
    event_source_mapping_metrics = []
  }

  expect_failures = [terraform_data.input_checks]
}

run "mapping_events_with_an_existing_alarm_is_refused" {
  command = plan

  variables {
    alarm_failure_signal         = "mapping_events"
    event_source_mapping_metrics = ["EventCount"]
    existing_alarm = {
      arn  = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:mine"
      name = "mine"
    }
  }

  expect_failures = [terraform_data.input_checks]
}

run "unknown_signal_is_refused" {
  command = plan

  variables {
    alarm_failure_signal = "errors"
  }

  expect_failures = [var.alarm_failure_signal]
}

run "slow_call_rate_without_a_duration_is_refused" {
  command = plan

  variables {
    slow_call_rate_threshold_percent = 50
  }

  expect_failures = [terraform_data.input_checks]
}

run "slow_call_duration_out_of_range_is_refused" {
  command = plan

  variables {
    slow_call_duration_threshold_ms = 0
  }

  expect_failures = [var.slow_call_duration_threshold_ms]
}

run "slow_call_rate_out_of_range_is_refused" {
  command = plan

  variables {
    slow_call_duration_threshold_ms  = 100
    slow_call_rate_threshold_percent = 120
  }

  expect_failures = [var.slow_call_rate_threshold_percent]
}

run "slow_call_duration_at_the_function_timeout_is_refused" {
  command = plan

  variables {
    # the mocked function's timeout is 3 s: a 3 s call times out, it is never slow
    slow_call_duration_threshold_ms = 3000
  }

  expect_failures = [data.aws_lambda_function.protected]
}
