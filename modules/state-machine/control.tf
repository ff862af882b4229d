# Operator control (sqs-circuit-breaker open / close): two small SSM parameters that only the state
# machine writes (its ClaimEpisode task, through the probe function, writes the control marker).
#   control  - the marker of the last operator command: {mode: auto|hold, command, reason,
#              requestedBy, at, execution}. A new alarm execution reads it first (a held circuit
#              ignores the alarm); sqs-circuit-breaker status shows it. Which execution owns the
#              circuit is the lease's business (lease.tf): a command takes the lease, so running
#              executions end at their next control check without touching anything.
#   settings - the mapping settings remembered at the last open (ScalingConfig, response types), so
#              that a hold, a force close or a later episode restores them even when the execution
#              that remembered them ended early (for example during the half-open ramp).
# Terraform creates them and then leaves their values alone (ignore_changes): the state machine owns
# the values. Standard tier, type String: free, and they hold no secret.
locals {
  control_parameter_name  = "${var.parameter_path}/control"
  settings_parameter_name = "${var.parameter_path}/settings"
  parameter_arns = [
    for name in [local.control_parameter_name, local.settings_parameter_name] :
    "arn:${var.partition}:ssm:${var.region}:${var.account_id}:parameter${name}"
  ]
}

resource "aws_ssm_parameter" "control" {
  name        = local.control_parameter_name
  description = "Circuit breaker ${var.circuit_name}: operator control marker (written by the state machine; read it with sqs-circuit-breaker status)."
  type        = "String"
  tier        = "Standard"
  value = jsonencode({
    mode        = "auto"
    command     = null
    reason      = "created"
    requestedBy = "terraform"
    at          = "1970-01-01T00:00:00Z"
    execution   = null
  })
  tags = var.tags

  lifecycle {
    ignore_changes = [value]
  }
}

resource "aws_ssm_parameter" "settings" {
  name        = local.settings_parameter_name
  description = "Circuit breaker ${var.circuit_name}: event source mapping settings remembered at the last open (written by the state machine)."
  type        = "String"
  tier        = "Standard"
  value       = "{}"
  tags        = var.tags

  lifecycle {
    ignore_changes = [value]
  }
}
