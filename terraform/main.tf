# The public hosted zone that `gtm route53 apply` mirrors the config's services into. gtm finds it by name
# (ListHostedZonesByName, public zones only) and owns only what it writes there: its managed names, their
# internal _gtm-... names and the _gtm-owner marker; every other record in the zone is left alone.

data "aws_partition" "current" {}

resource "aws_route53_zone" "this" {
  count = var.create_zone ? 1 : 0

  name    = var.zone_name
  comment = "gtm Route53 mirror"
  tags    = var.tags

  lifecycle {
    precondition {
      condition     = var.zone_name != null
      error_message = "create_zone = true needs zone_name."
    }
  }
}

# An existing zone: read for its name servers, and checked to be public (gtm never writes to a private zone).
data "aws_route53_zone" "existing" {
  count = !var.create_zone && var.zone_id != null ? 1 : 0

  zone_id = var.zone_id

  lifecycle {
    postcondition {
      condition     = !self.private_zone
      error_message = "zone_id ${var.zone_id} is a private hosted zone; gtm mirrors to a public one."
    }
    postcondition {
      condition     = var.zone_name == null ? true : trimsuffix(self.name, ".") == var.zone_name
      error_message = "zone_id ${var.zone_id} is not the hosted zone of zone_name ${coalesce(var.zone_name, "-")}."
    }
  }
}

locals {
  zone_id      = var.create_zone ? aws_route53_zone.this[0].zone_id : var.zone_id
  zone_name    = var.create_zone ? var.zone_name : try(trimsuffix(data.aws_route53_zone.existing[0].name, "."), var.zone_name)
  name_servers = var.create_zone ? aws_route53_zone.this[0].name_servers : try(data.aws_route53_zone.existing[0].name_servers, null)
}
