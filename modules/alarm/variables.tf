variable "alarm_name" {
  description = "Name of the CloudWatch alarm."
  type        = string
}

variable "circuit_name" {
  description = "Name of the circuit (used in the description)."
  type        = string
}

variable "function_name" {
  description = "Name of the protected Lambda function (the FunctionName dimension)."
  type        = string
}

variable "threshold_percent" {
  description = "Error rate, in percent, at or above which a period breaches."
  type        = number
}

variable "min_invocations" {
  description = "Periods with fewer invocations than this never breach."
  type        = number
}

variable "period_seconds" {
  description = "Metric period in seconds (10, 30 or a multiple of 60)."
  type        = number
}

variable "evaluation_periods" {
  description = "Number of periods evaluated."
  type        = number
}

variable "datapoints_to_alarm" {
  description = "Breaching periods (out of evaluation_periods) that trip the alarm."
  type        = number
}

variable "tags" {
  description = "Tags for the alarm."
  type        = map(string)
  default     = {}
}
