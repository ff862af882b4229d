variable "region" {
  description = "AWS region of the protected function."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Name of the circuit (prefixes every resource the module creates)."
  type        = string
  default     = "cb-basic"
}

variable "function_name" {
  description = "Name of the existing protected Lambda function."
  type        = string
}

variable "queue_name" {
  description = "Name of the existing SQS queue its event source mapping reads."
  type        = string
}

variable "event_source_mapping_uuid" {
  description = "UUID of the existing event source mapping (its Terraform resource needs lifecycle { ignore_changes = [enabled] })."
  type        = string
}
