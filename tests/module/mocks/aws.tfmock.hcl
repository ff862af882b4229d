# Shared mock values for the hashicorp/aws provider (terraform test, offline): known account,
# region and partition, and well-formed ARNs where the provider validates them.
mock_data "aws_partition" {
  defaults = {
    partition = "aws"
  }
}

mock_data "aws_region" {
  defaults = {
    name     = "eu-west-1"
    endpoint = "ec2.eu-west-1.amazonaws.com"
  }
}

mock_data "aws_caller_identity" {
  defaults = {
    account_id = "123456789012"
  }
}

mock_data "aws_lambda_function" {
  defaults = {
    timeout = 3
    arn     = "arn:aws:lambda:eu-west-1:123456789012:function:mocked"
  }
}

mock_data "aws_iam_policy_document" {
  defaults = {
    json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
  }
}

mock_resource "aws_iam_role" {
  defaults = {
    arn = "arn:aws:iam::123456789012:role/mocked"
  }
}

mock_resource "aws_lambda_function" {
  defaults = {
    arn = "arn:aws:lambda:eu-west-1:123456789012:function:mocked"
  }
}

mock_resource "aws_cloudwatch_log_group" {
  defaults = {
    arn = "arn:aws:logs:eu-west-1:123456789012:log-group:mocked"
  }
}

mock_resource "aws_sfn_state_machine" {
  defaults = {
    arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:mocked"
  }
}

mock_resource "aws_sns_topic" {
  defaults = {
    arn = "arn:aws:sns:eu-west-1:123456789012:mocked"
  }
}

mock_resource "aws_cloudwatch_metric_alarm" {
  defaults = {
    arn = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:mocked"
  }
}

mock_resource "aws_cloudwatch_event_rule" {
  defaults = {
    arn = "arn:aws:events:eu-west-1:123456789012:rule/mocked"
  }
}

mock_resource "aws_lambda_event_source_mapping" {
  defaults = {
    uuid = "11111111-2222-4333-8444-555555555555"
  }
}

mock_resource "aws_sqs_queue" {
  defaults = {
    arn = "arn:aws:sqs:eu-west-1:123456789012:mocked"
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/mocked"
  }
}
