terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.80, < 7.0" # metrics_config on aws_lambda_event_source_mapping
    }
  }
}
