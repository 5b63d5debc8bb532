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
  count                   = var.create_override_table ? 1 : 0
  source_policy_documents = [data.aws_iam_policy_document.overrides_stream[0].json]

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
}

resource "aws_iam_policy" "overrides" {
  count = var.create_override_table ? 1 : 0

  name        = "${var.name_prefix}-overrides"
  description = "gtm override table ${var.override_table_name}: read and write overrides (operators, drills)"
  policy      = data.aws_iam_policy_document.overrides[0].json
  tags        = var.tags
}

# What a DNS node needs, and no more: it reads the overrides in force (GetItem, consistent) and never writes. A
# node's credentials, if stolen, cannot drain a region.
data "aws_iam_policy_document" "overrides_read" {
  count                   = var.create_override_table ? 1 : 0
  source_policy_documents = [data.aws_iam_policy_document.overrides_stream[0].json]

  statement {
    sid       = "ReadOverridesInForce"
    effect    = "Allow"
    actions   = ["dynamodb:GetItem"]
    resources = [aws_dynamodb_table.overrides[0].arn]
  }
}

# Optional, in both policies: follow the table's stream (its ARN comes from DescribeTable, so ListStreams is not
# needed). Empty unless override_stream_read.
data "aws_iam_policy_document" "overrides_stream" {
  count = var.create_override_table ? 1 : 0

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

resource "aws_iam_policy" "overrides_read" {
  count = var.create_override_table ? 1 : 0

  name        = "${var.name_prefix}-overrides-read"
  description = "gtm override table ${var.override_table_name}: read the overrides in force (DNS nodes)"
  policy      = data.aws_iam_policy_document.overrides_read[0].json
  tags        = var.tags
}

resource "aws_iam_role_policy_attachment" "nodes" {
  for_each = var.create_override_table ? toset(var.node_role_names) : toset([])

  role       = each.value
  policy_arn = aws_iam_policy.overrides_read[0].arn
}
