"""Operator command-line tool for terraform-aws-sqs-circuit-breaker circuits."""

__version__ = "0.1.0"
