output "zone_id" {
  description = "Id of the mirror's hosted zone (null when there is none)."
  value       = local.zone_id
}

output "zone_name" {
  description = "Name of the mirror's hosted zone, the --zone of `gtm route53 plan|apply` (null when there is none)."
  value       = local.zone_name
}

output "name_servers" {
  description = "Route53's name servers for the mirror's zone: the NS records to set at the registrar or in the parent zone."
  value       = local.name_servers
}

output "route53_policy_arn" {
  description = "ARN of the <prefix>-route53 policy for `gtm route53 plan|apply` (null unless create_iam)."
  value       = one(aws_iam_policy.route53[*].arn)
}

output "route53_policy_json" {
  description = "The Route53 policy document as JSON, e.g. for an inline policy or a permissions boundary (null unless create_iam)."
  value       = one(data.aws_iam_policy_document.route53[*].json)
}

output "delegation" {
  description = "The delegation: subdomain, the name servers in its NS record, and the glue addresses per in-bailiwick host (null without delegation)."
  value = var.delegation == null ? null : {
    subdomain   = var.delegation.subdomain
    nameservers = sort(keys(var.delegation.nameservers))
    glue        = { for host, ips in local.delegation_glue : host => concat(lookup(local.glue_ipv4, host, []), lookup(local.glue_ipv6, host, [])) }
  }
}

output "override_table_name" {
  description = "Name of the override table (null unless create_override_table)."
  value       = one(aws_dynamodb_table.overrides[*].name)
}

output "override_table_arn" {
  description = "ARN of the override table (null unless create_override_table)."
  value       = one(aws_dynamodb_table.overrides[*].arn)
}

output "override_table_stream_arn" {
  description = "ARN of the override table's stream (null unless create_override_table)."
  value       = one(aws_dynamodb_table.overrides[*].stream_arn)
}

output "override_policy_arn" {
  description = "ARN of the <prefix>-overrides policy (null unless create_override_table)."
  value       = one(aws_iam_policy.overrides[*].arn)
}

output "override_read_policy_arn" {
  description = "ARN of the read-only <prefix>-overrides-read policy for DNS nodes (null unless create_override_table)."
  value       = one(aws_iam_policy.overrides_read[*].arn)
}

output "route53_ds_record" {
  description = "The DS record of Route53's key-signing key for the parent zone (null unless route53_dnssec). Separate from the DS of gtm's own keys (gtm dnssec ds)."
  value       = one(aws_route53_key_signing_key.this[*].ds_record)
}
