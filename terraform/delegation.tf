# Self-hosted mode: the parent zone delegates a subdomain to gtm's own DNS nodes. The NS record names every
# node; glue (A/AAAA in the parent zone) is created only for the name servers inside the delegated subdomain,
# which resolvers could not otherwise find. Keys are host names, so adding or removing one node touches only
# that node's records.

locals {
  delegation_ns = var.delegation == null ? {} : var.delegation.nameservers

  # In-bailiwick name servers: the subdomain itself or a name below it.
  delegation_glue = var.delegation == null ? {} : {
    for host, ips in local.delegation_ns : host => ips
    if host == var.delegation.subdomain || endswith(host, ".${var.delegation.subdomain}")
  }

  glue_ipv4 = {
    for host, ips in local.delegation_glue : host => sort(distinct([for ip in ips : ip if !strcontains(ip, ":")]))
    if length([for ip in ips : ip if !strcontains(ip, ":")]) > 0
  }

  glue_ipv6 = {
    for host, ips in local.delegation_glue : host => sort(distinct([for ip in ips : ip if strcontains(ip, ":")]))
    if length([for ip in ips : ip if strcontains(ip, ":")]) > 0
  }
}

resource "aws_route53_record" "delegation_ns" {
  count = var.delegation == null ? 0 : 1

  zone_id = var.delegation.parent_zone_id
  name    = var.delegation.subdomain
  type    = "NS"
  ttl     = var.delegation.ttl
  records = sort(keys(var.delegation.nameservers))
}

resource "aws_route53_record" "glue_a" {
  for_each = local.glue_ipv4

  zone_id = var.delegation.parent_zone_id
  name    = each.key
  type    = "A"
  ttl     = var.delegation.ttl
  records = each.value
}

resource "aws_route53_record" "glue_aaaa" {
  for_each = local.glue_ipv6

  zone_id = var.delegation.parent_zone_id
  name    = each.key
  type    = "AAAA"
  ttl     = var.delegation.ttl
  records = each.value
}
