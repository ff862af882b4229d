output "function_arn" {
  description = "ARN of the function."
  value       = aws_lambda_function.this.arn
}

output "function_name" {
  description = "Name of the function."
  value       = aws_lambda_function.this.function_name
}

output "role_arn" {
  description = "ARN of the function's role."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the function's role."
  value       = aws_iam_role.this.name
}

output "log_group_name" {
  description = "Name of the function's log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "policy_statements" {
  description = "Allow statements of the role's inline policy."
  value       = local.statements
}

output "policy_json" {
  description = "The role's inline policy (JSON)."
  value       = data.aws_iam_policy_document.this.json
}

output "function_timeout" {
  description = "Timeout of the function, in seconds."
  value       = aws_lambda_function.this.timeout
}

output "environment" {
  description = "Environment variables of the function."
  value       = var.environment
}

output "assume_role_policy_json" {
  description = "The role's trust policy (JSON)."
  value       = data.aws_iam_policy_document.assume.json
}

output "role_path" {
  description = "Path of the function's role."
  value       = aws_iam_role.this.path
}

output "role_permissions_boundary" {
  description = "Permissions boundary of the function's role, or null."
  value       = aws_iam_role.this.permissions_boundary
}

output "tracing_mode" {
  description = "X-Ray tracing mode of the function."
  value       = one(aws_lambda_function.this.tracing_config).mode
}

output "reserved_concurrency" {
  description = "Reserved concurrent executions (-1: none)."
  value       = aws_lambda_function.this.reserved_concurrent_executions
}

output "code_signing_config_arn" {
  description = "Code signing configuration of the function, or null."
  value       = aws_lambda_function.this.code_signing_config_arn
}

output "vpc_config" {
  description = "Subnets and security groups of the function (empty outside a VPC)."
  value = {
    subnet_ids         = toset(var.subnet_ids)
    security_group_ids = toset(var.security_group_ids)
    applied            = length(aws_lambda_function.this.vpc_config) > 0
  }
}
