# Single flight: the episode lease. One DynamoDB item per circuit says which execution owns the
# circuit now (holder: its execution ARN) and in which phase (open, watch, held, command). Every
# change of owner is a conditional write, so exactly one execution acts even when several start
# together (ListExecutions, which the breaker used before, is eventually consistent):
#   - an alarm execution takes a free lease (attribute_not_exists), or one whose holder has ended
#     (compare-and-set on the holder it read), or one whose holder only watches the alarm after a
#     close when its ALARM event is newer than that close (a second wave);
#   - an operator command takes it unconditionally (hold keeps it, phase held);
#   - a successor execution (history hand-over) claims it from its predecessor;
#   - every execution checks it after each wait, before it changes the mapping, and ends, untouched,
#     once it lost it: the loops' tasks read it (lambda_src/probe/step.py), the recovery's gates
#     write the phase conditionally (MarkLeaseRecovering, MarkLeaseClosing: holder = self);
#   - a closed episode deletes it (only its own).
# On-demand capacity (a handful of requests per episode), encrypted at rest with the AWS owned key
# (it holds an execution ARN and timestamps, nothing else).
resource "aws_dynamodb_table" "lease" {
  name         = var.lease_table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "circuit"

  attribute {
    name = "circuit"
    type = "S"
  }

  tags = var.tags
}

locals {
  lease_table_name = aws_dynamodb_table.lease.name
  lease_table_arn  = "arn:${var.partition}:dynamodb:${var.region}:${var.account_id}:table/${var.lease_table_name}"
}
