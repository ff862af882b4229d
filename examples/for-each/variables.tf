variable "region" {
  description = "AWS region of the protected functions."
  type        = string
  default     = "us-east-1"
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

variable "topic_name" {
  description = "Name of the SNS topic every circuit notifies."
  type        = string
  default     = "circuit-breakers"
}

variable "circuits" {
  description = "The circuits, by name (1-40 characters [A-Za-z0-9_-]): the existing function, its queue and its event source mapping, and optional per-circuit settings."
  type = map(object({
    function_name             = string
    queue_name                = string
    event_source_mapping_uuid = string
    half_open_max_concurrency = optional(number)
    probe_max_attempts        = optional(number, 10)
    give_up_action            = optional(string, "stay_open")
  }))
  default = {
    orders = {
      function_name             = "orders-consumer"
      queue_name                = "orders"
      event_source_mapping_uuid = "00000000-0000-4000-8000-000000000001"
    }
    payments = {
      function_name             = "payments-consumer"
      queue_name                = "payments"
      event_source_mapping_uuid = "00000000-0000-4000-8000-000000000002"
      half_open_max_concurrency = 5
      give_up_action            = "close"
    }
  }
}
