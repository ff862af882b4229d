variable "name" {
  description = "Name prefix of every resource of this example (and the circuit's name)."
  type        = string
  default     = "cb-tam-lambda"
}

variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "us-east-1"
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

variable "package_path" {
  description = "Path of the function's deployment zip (its handler is handler.handler)."
  type        = string
  default     = "../complete/dist/protected.zip"
}
