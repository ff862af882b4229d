# Provider compatibility: the region comes from an attribute that AWS provider 5.x and 6.x both
# have without a deprecation (aws_region's `endpoint`), in every partition.
mock_provider "aws" {
  source = "./tests/module/mocks"
}

variables {
  name                      = "orders"
  function_name             = "orders-consumer"
  event_source_mapping_uuid = "0f6e1d2c-3b4a-4958-8a7b-6c5d4e3f2a1b"
  queue_arn                 = "arn:aws:sqs:eu-west-1:123456789012:orders"
  queue_url                 = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders"
}

run "region_from_the_ec2_endpoint" {
  command = plan

  override_data {
    target = data.aws_region.current
    # `name` deliberately disagrees: the module must not read it (deprecated in provider 6).
    values = { name = "not-read", endpoint = "ec2.ap-southeast-2.amazonaws.com" }
  }

  assert {
    condition     = local.region == "ap-southeast-2"
    error_message = "the region is the second label of the EC2 endpoint"
  }
  assert {
    condition     = output.sns_topic_arn == "arn:aws:sns:ap-southeast-2:123456789012:orders-circuit-breaker"
    error_message = "ARNs built by the module carry that region"
  }
}

run "region_in_other_partitions" {
  command = plan

  override_data {
    target = data.aws_partition.current
    values = { partition = "aws-us-gov" }
  }
  override_data {
    target = data.aws_region.current
    values = { name = "not-read", endpoint = "ec2.us-gov-west-1.amazonaws.com" }
  }

  variables {
    queue_arn = "arn:aws-us-gov:sqs:us-gov-west-1:123456789012:orders"
    queue_url = "https://sqs.us-gov-west-1.amazonaws.com/123456789012/orders"
  }

  assert {
    condition     = local.region == "us-gov-west-1" && output.sns_topic_arn == "arn:aws-us-gov:sns:us-gov-west-1:123456789012:orders-circuit-breaker"
    error_message = "region and partition of a GovCloud deployment"
  }
}
