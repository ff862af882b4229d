variable "function_name" {
  description = "Name of the Lambda function."
  type        = string
}

variable "role_name" {
  description = "Name of the function's IAM role."
  type        = string
}

variable "description" {
  description = "Description of the function and its role."
  type        = string
}

variable "filename" {
  description = "Path of the deployment zip."
  type        = string
}

variable "handler" {
  description = "Handler (module.function)."
  type        = string
}

variable "timeout_seconds" {
  description = "Function timeout in seconds."
  type        = number
}

variable "memory_size" {
  description = "Memory in MB."
  type        = number
  default     = 256
}

variable "architecture" {
  description = "Instruction set architecture: x86_64 or arm64."
  type        = string
  default     = "x86_64"
}

variable "environment" {
  description = "Environment variables."
  type        = map(string)
  default     = {}
}

variable "policy_statements" {
  description = "Allow statements of the role's inline policy, besides writing its own logs."
  type = list(object({
    sid       = string
    actions   = list(string)
    resources = list(string)
    conditions = list(object({
      test     = string
      variable = string
      values   = list(string)
    }))
  }))
}

variable "log_retention_days" {
  description = "Retention of the function's log group, in days."
  type        = number
}

variable "log_kms_key_arn" {
  description = "KMS key ARN encrypting the log group, or null."
  type        = string
  default     = null
}

variable "partition" {
  description = "AWS partition."
  type        = string
}

variable "region" {
  description = "AWS region."
  type        = string
}

variable "account_id" {
  description = "AWS account id."
  type        = string
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

variable "role_path" {
  description = "Path of the IAM role(s)."
  type        = string
  default     = "/"
}

variable "role_permissions_boundary" {
  description = "ARN of the permissions boundary of the IAM role(s), or null."
  type        = string
  default     = null
}

variable "tracing_enabled" {
  description = "X-Ray Active tracing (else PassThrough)."
  type        = bool
  default     = false
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions, or null for none."
  type        = number
  default     = null
}

variable "code_signing_config_arn" {
  description = "Code signing configuration ARN, or null."
  type        = string
  default     = null
}

variable "subnet_ids" {
  description = "VPC subnets ([] for no VPC)."
  type        = list(string)
  default     = []
}

variable "security_group_ids" {
  description = "VPC security groups ([] for no VPC)."
  type        = list(string)
  default     = []
}
