output "alarm_arn" {
  description = "ARN of the alarm."
  value       = aws_cloudwatch_metric_alarm.this.arn
}

output "alarm_name" {
  description = "Name of the alarm."
  value       = aws_cloudwatch_metric_alarm.this.alarm_name
}

output "metric_queries" {
  description = "The alarm's metric queries (id, expression or metric, return_data)."
  value = [for q in aws_cloudwatch_metric_alarm.this.metric_query : {
    id          = q.id
    expression  = q.expression
    return_data = q.return_data
    metric_name = length(q.metric) > 0 ? q.metric[0].metric_name : null
    stat        = length(q.metric) > 0 ? q.metric[0].stat : null
    dimensions  = length(q.metric) > 0 ? q.metric[0].dimensions : null
    period      = length(q.metric) > 0 ? q.metric[0].period : null
  }]
}

output "treat_missing_data" {
  description = "How the alarm treats missing data."
  value       = aws_cloudwatch_metric_alarm.this.treat_missing_data
}
