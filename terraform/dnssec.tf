# Route53's own DNSSEC signing of the mirror's hosted zone (route53_dnssec = true; off by default).
#
# Route53 signs with a key-signing key that it keeps in AWS KMS: an asymmetric ECC_NIST_P256 key with
# SIGN_VERIFY usage, which must live in us-east-1 (hence the aws.us_east_1 provider this module takes). Route53
# makes and rotates the zone-signing key itself. These keys are separate from the keys gtm's own nodes sign
# with (gtm dnssec keygen): a zone served by both has two DS records at its parent, one per set of keys
# (docs/dnssec.md). gtm's API calls never touch DNSSEC; it is made here, once, like the zone itself.

data "aws_caller_identity" "current" {}

data "aws_iam_policy_document" "dnssec_kms" {
  count = var.route53_dnssec ? 1 : 0

  # The account administers the key (no kms:*: every action named, none that would lock it out omitted).
  statement {
    sid = "AccountAdministersTheKey"
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
    actions = [
      "kms:CancelKeyDeletion", "kms:CreateAlias", "kms:DeleteAlias", "kms:DescribeKey", "kms:DisableKey",
      "kms:EnableKey", "kms:GetKeyPolicy", "kms:GetPublicKey", "kms:ListGrants", "kms:ListResourceTags",
      "kms:PutKeyPolicy", "kms:RevokeGrant", "kms:ScheduleKeyDeletion", "kms:TagResource", "kms:UntagResource",
      "kms:UpdateAlias", "kms:UpdateKeyDescription",
    ]
    resources = ["*"]
  }

  # Route53's DNSSEC service signs with it, for this account's zones only.
  statement {
    sid = "Route53DnssecSigns"
    principals {
      type        = "Service"
      identifiers = ["dnssec-route53.amazonaws.com"]
    }
    actions   = ["kms:DescribeKey", "kms:GetPublicKey", "kms:Sign"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }

  statement {
    sid = "Route53DnssecGrants"
    principals {
      type        = "Service"
      identifiers = ["dnssec-route53.amazonaws.com"]
    }
    actions   = ["kms:CreateGrant"]
    resources = ["*"]
    condition {
      test     = "Bool"
      variable = "kms:GrantIsForAWSResource"
      values   = ["true"]
    }
  }
}

resource "aws_kms_key" "dnssec" {
  count    = var.route53_dnssec ? 1 : 0
  provider = aws.us_east_1

  description              = "gtm: Route53 DNSSEC key-signing key of ${coalesce(local.zone_name, "the mirror's zone")}"
  customer_master_key_spec = "ECC_NIST_P256"
  key_usage                = "SIGN_VERIFY"
  deletion_window_in_days  = 7
  policy                   = data.aws_iam_policy_document.dnssec_kms[0].json
  tags                     = var.tags

  lifecycle {
    precondition {
      condition     = local.zone_id != null
      error_message = "route53_dnssec = true needs the mirror's hosted zone (create_zone, or zone_id)."
    }
  }
}

resource "aws_route53_key_signing_key" "this" {
  count = var.route53_dnssec ? 1 : 0

  hosted_zone_id             = local.zone_id
  key_management_service_arn = aws_kms_key.dnssec[0].arn
  name                       = "gtm"
  status                     = "ACTIVE"
}

resource "aws_route53_hosted_zone_dnssec" "this" {
  count = var.route53_dnssec ? 1 : 0

  hosted_zone_id = aws_route53_key_signing_key.this[0].hosted_zone_id
  signing_status = "SIGNING"
}
