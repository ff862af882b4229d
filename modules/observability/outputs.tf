output "dashboard_name" {
  description = "Name of the dashboard, or null."
  value       = one(aws_cloudwatch_dashboard.this[*].dashboard_name)
}

output "dashboard_body" {
  description = "The dashboard's JSON body (also when no dashboard is created: it renders the picture in docs/operating.md)."
  value       = jsonencode({ widgets = local.widgets })
}

output "alarm_names" {
  description = "Names of the breaker alarms created, by kind."
  value = {
    execution_failed = one(aws_cloudwatch_metric_alarm.execution_failed[*].alarm_name)
    open_too_long    = one(aws_cloudwatch_metric_alarm.open_too_long[*].alarm_name)
    trigger_failed   = one(aws_cloudwatch_metric_alarm.trigger_failed[*].alarm_name)
  }
}
