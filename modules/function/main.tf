# One Lambda function of the circuit breaker (the probe or the rejitter) with its own role,
# least-privilege inline policy and log group.
locals {
  log_group_name = "/aws/lambda/${var.function_name}"
  log_group_arn  = "arn:${var.partition}:logs:${var.region}:${var.account_id}:log-group:${local.log_group_name}"
}

resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "assume" {
  statement {
    sid     = "LambdaAssume"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    # Confused-deputy guard: only Lambda on behalf of this account. (Lambda also assumes the role
    # while it validates CreateFunction, before the function exists: no aws:SourceArn.)
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }
}

locals {
  in_vpc = length(var.subnet_ids) > 0

  # The log group is created above, so the function only writes streams and events.
  statements = concat(
    [{
      sid        = "WriteOwnLogs"
      actions    = ["logs:CreateLogStream", "logs:PutLogEvents"]
      resources  = ["${local.log_group_arn}:*"]
      conditions = []
    }],
    var.policy_statements,
    var.tracing_enabled ? [{
      # X-Ray's trace APIs have no resource-level permissions: "*" is required.
      sid        = "XRayTracing"
      actions    = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
      resources  = ["*"]
      conditions = []
    }] : [],
    local.in_vpc ? [{
      # Lambda creates, describes and deletes the function's network interfaces with the execution
      # role, and checks at CreateFunction / UpdateFunctionConfiguration that the role may do so by
      # evaluating these actions without a subnet or security-group context. The Lambda developer
      # guide ("Giving Lambda functions access to resources in an Amazon VPC") requires
      # ec2:DescribeNetworkInterfaces on "*", and AWS's own AWSLambdaVPCAccessExecutionRole grants
      # exactly these six actions on "*": a policy scoped to subnet and security-group ARNs fails
      # that check on AWS. The ENIs belong to Lambda (requester-managed); the subnets and security
      # groups are fixed by the function's vpc_config, not by this policy.
      sid = "VpcNetworkInterfaces"
      actions = [
        "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses",
      ]
      resources  = ["*"]
      conditions = []
    }] : [],
  )
}

data "aws_iam_policy_document" "this" {
  dynamic "statement" {
    for_each = local.statements

    content {
      sid       = statement.value.sid
      effect    = "Allow"
      actions   = statement.value.actions
      resources = statement.value.resources

      dynamic "condition" {
        for_each = statement.value.conditions

        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }
}

resource "aws_iam_role" "this" {
  name               = var.role_name
  description        = var.description
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags

  path                 = var.role_path
  permissions_boundary = var.role_permissions_boundary
}

resource "aws_iam_role_policy" "this" {
  name   = "least-privilege"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

resource "aws_lambda_function" "this" {
  function_name    = var.function_name
  description      = var.description
  role             = aws_iam_role.this.arn
  filename         = var.filename
  source_code_hash = filebase64sha256(var.filename)
  handler          = var.handler
  runtime          = "python3.12"
  architectures    = [var.architecture]
  timeout          = var.timeout_seconds
  memory_size      = var.memory_size

  dynamic "environment" {
    for_each = length(var.environment) > 0 ? [var.environment] : []

    content {
      variables = environment.value
    }
  }

  tags = var.tags

  tracing_config {
    mode = var.tracing_enabled ? "Active" : "PassThrough"
  }

  reserved_concurrent_executions = coalesce(var.reserved_concurrency, -1)
  code_signing_config_arn        = var.code_signing_config_arn

  dynamic "vpc_config" {
    for_each = local.in_vpc ? [1] : []

    content {
      subnet_ids         = var.subnet_ids
      security_group_ids = var.security_group_ids
    }
  }

  # The role must be able to write logs (and read the queue, for an event source mapping) before the
  # function runs; the log group must exist so that Lambda does not create one without retention.
  depends_on = [aws_iam_role_policy.this, aws_cloudwatch_log_group.this]
}
