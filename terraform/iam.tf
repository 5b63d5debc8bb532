# Least privilege for the principal that runs `gtm route53 plan|apply`: exactly the Route53 calls that
# gtm/route53/aws.py makes (tests/unit/test_terraform.py keeps the two in step), each on the narrowest
# resource Route53 accepts for it. Actions without resource-level permissions take "*".

locals {
  zone_arn           = local.zone_id == null ? null : "arn:${data.aws_partition.current.partition}:route53:::hostedzone/${local.zone_id}"
  healthcheck_arn    = "arn:${data.aws_partition.current.partition}:route53:::healthcheck/*"
  cidrcollection_arn = "arn:${data.aws_partition.current.partition}:route53:::cidrcollection/*"
}

data "aws_iam_policy_document" "route53" {
  count = var.create_iam ? 1 : 0

  # plan: find the hosted zone by name (no resource-level permissions).
  statement {
    sid       = "FindZone"
    effect    = "Allow"
    actions   = ["route53:ListHostedZonesByName"]
    resources = ["*"]
  }

  # plan: read every rrset of the mirror's zone (and the zone itself, when --zone-id names it).
  statement {
    sid       = "ReadZone"
    effect    = "Allow"
    actions   = ["route53:GetHostedZone", "route53:ListResourceRecordSets"]
    resources = [local.zone_arn]
  }

  # apply: the record change batches, in the mirror's zone only (and, optionally, only at the managed names).
  statement {
    sid       = "WriteRecords"
    effect    = "Allow"
    actions   = ["route53:ChangeResourceRecordSets"]
    resources = [local.zone_arn]

    # Only the types gtm writes (A, AAAA and TXT; CNAME to delete one it adopts): never NS, never the zone's
    # delegation or anything else in it.
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "route53:ChangeResourceRecordSetsRecordTypes"
      values   = ["A", "AAAA", "TXT", "CNAME"]
    }

    # Never a certificate authority's challenge names, whatever the patterns below allow.
    condition {
      test     = "ForAllValues:StringNotLike"
      variable = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
      values   = ["_acme-challenge.*", "*._acme-challenge.*"]
    }

    dynamic "condition" {
      for_each = var.record_name_patterns == null ? [] : [var.record_name_patterns]
      content {
        test     = "ForAllValues:StringLike"
        variable = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
        values   = condition.value
      }
    }
  }

  # apply --wait: whether the changes reached every Route53 name server.
  statement {
    sid       = "WatchChanges"
    effect    = "Allow"
    actions   = ["route53:GetChange"]
    resources = ["arn:${data.aws_partition.current.partition}:route53:::change/*"]
  }

  # plan: list the health checks to find this owner's (no resource-level permissions).
  statement {
    sid       = "ListHealthChecks"
    effect    = "Allow"
    actions   = ["route53:ListHealthChecks"]
    resources = ["*"]
  }

  # apply: new checks (no resource-level permissions: the check has no id before it exists).
  statement {
    sid       = "CreateHealthChecks"
    effect    = "Allow"
    actions   = ["route53:CreateHealthCheck"]
    resources = ["*"]
  }

  # apply: change checks in place (a drain inverts a switch) and delete the ones nothing uses any more.
  # (Keys come from the CallerReference that ListHealthChecks returns: no per-check reads.)
  statement {
    sid       = "WriteHealthChecks"
    effect    = "Allow"
    actions   = ["route53:UpdateHealthCheck", "route53:DeleteHealthCheck"]
    resources = [local.healthcheck_arn]
  }

  # apply: tag new checks (gtm:key, gtm:owner, Name) for people and cost reports.
  statement {
    sid       = "TagHealthChecks"
    effect    = "Allow"
    actions   = ["route53:ChangeTagsForResource"]
    resources = [local.healthcheck_arn]
  }

  # plan: find the owner's CIDR collection for the zone (geo rules on CIDR blocks); a listing of the account.
  statement {
    sid       = "ListCidrCollections"
    effect    = "Allow"
    actions   = ["route53:ListCidrCollections"]
    resources = ["*"]
  }

  # plan and apply: read, create, change and delete CIDR collections (gtm's are named gtm-<owner>-<zone>).
  statement {
    sid    = "WriteCidrCollections"
    effect = "Allow"
    actions = ["route53:ListCidrLocations", "route53:ListCidrBlocks", "route53:CreateCidrCollection",
    "route53:ChangeCidrCollection", "route53:DeleteCidrCollection"]
    resources = [local.cidrcollection_arn]
  }

  lifecycle {
    precondition {
      condition     = var.create_zone || var.zone_id != null
      error_message = "create_iam = true needs the mirror's hosted zone: create_zone = true or zone_id."
    }
  }
}

resource "aws_iam_policy" "route53" {
  count = var.create_iam ? 1 : 0

  name        = "${var.name_prefix}-route53"
  description = "gtm route53 plan/apply: read and write the mirror's records and gtm's health checks"
  policy      = data.aws_iam_policy_document.route53[0].json
  tags        = var.tags
}

locals {
  policy_attachments = merge(
    var.create_iam ? {
      for role in var.attach_to_role_names : "${role}/route53" => { role = role, policy_arn = aws_iam_policy.route53[0].arn }
    } : {},
    var.create_override_table ? {
      for role in var.attach_to_role_names : "${role}/overrides" => { role = role, policy_arn = aws_iam_policy.overrides[0].arn }
    } : {}
  )
}

resource "aws_iam_role_policy_attachment" "this" {
  for_each = local.policy_attachments

  role       = each.value.role
  policy_arn = each.value.policy_arn
}
