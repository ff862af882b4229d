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
