# The override table for failover drills: operator overrides as versioned items, written with conditional
# writes so that two operators never overwrite each other. Keys: pk (what is overridden) and sk (its version
# or sub-item). The stream (new and old images) is what a DynamoDB global table replicates, and what nodes may
# follow to learn of a change without polling.

resource "aws_dynamodb_table" "overrides" {
  count = var.create_override_table ? 1 : 0

  name         = var.override_table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  # Encrypted with the AWS-managed key (aws/dynamodb), which needs no KMS permissions for readers and writers.
  server_side_encryption {
    enabled = true
  }

  stream_enabled   = true
  stream_view_type = "NEW_AND_OLD_IMAGES"

  deletion_protection_enabled = true

  tags = var.tags
}

data "aws_iam_policy_document" "overrides" {
  count = var.create_override_table ? 1 : 0

  # Read and write overrides: single items, a key's versions (Query), conditional writes and transactions'
  # condition checks; DescribeTable for the key schema and the stream's ARN.
  statement {
    sid    = "ReadWriteOverrides"
    effect = "Allow"
    actions = [
      "dynamodb:ConditionCheckItem",
      "dynamodb:DeleteItem",
      "dynamodb:DescribeTable",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Query",
      "dynamodb:UpdateItem",
    ]
    resources = [aws_dynamodb_table.overrides[0].arn]
  }

  # Optional: follow the table's stream (its ARN comes from DescribeTable, so ListStreams is not needed).
  dynamic "statement" {
    for_each = var.override_stream_read ? ["stream"] : []
    content {
      sid    = "FollowOverrides"
      effect = "Allow"
      actions = [
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
      ]
      resources = ["${aws_dynamodb_table.overrides[0].arn}/stream/*"]
    }
  }
}

resource "aws_iam_policy" "overrides" {
  count = var.create_override_table ? 1 : 0

  name        = "${var.name_prefix}-overrides"
  description = "gtm override table ${var.override_table_name}: read and write overrides"
  policy      = data.aws_iam_policy_document.overrides[0].json
  tags        = var.tags
}
