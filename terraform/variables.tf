# -- naming -------------------------------------------------------------------------------------------------
variable "name_prefix" {
  description = "Prefix of the IAM policy names: <prefix>-route53 and <prefix>-overrides."
  type        = string
  default     = "gtm"

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,100}$", var.name_prefix))
    error_message = "name_prefix: 1 to 100 of the characters IAM allows in policy names (A-Z a-z 0-9 + = , . @ _ -)."
  }
}

variable "tags" {
  description = "Tags for the hosted zone, the IAM policies and the override table (Route53 records take none)."
  type        = map(string)
  default     = {}
}

# -- the mirror's hosted zone -------------------------------------------------------------------------------
variable "create_zone" {
  description = "Create the public hosted zone zone_name for `gtm route53 apply`; false to use the existing zone_id (or no zone at all when only delegation or the override table is wanted)."
  type        = bool
  default     = true
}

variable "zone_name" {
  description = "The mirrored zone, lower case and without the trailing dot (e.g. example.com): the zone `gtm route53 plan|apply --zone` names. Required when create_zone is true."
  type        = string
  default     = null

  validation {
    condition = var.zone_name == null ? true : can(regex(
      "^([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.zone_name
    ))
    error_message = "zone_name: a lower-case domain name with at least two labels and no trailing dot (e.g. example.com)."
  }
}

variable "zone_id" {
  description = "Id of an existing public hosted zone to mirror to (e.g. Z0123456789ABCDEFGHIJ), used when create_zone is false."
  type        = string
  default     = null

  validation {
    condition     = var.zone_id == null ? true : can(regex("^Z[A-Z0-9]{1,31}$", var.zone_id))
    error_message = "zone_id: a hosted zone id such as Z0123456789ABCDEFGHIJ (without the /hostedzone/ prefix)."
  }
}

# -- delegation to gtm's own DNS nodes (self-hosted mode) ---------------------------------------------------
variable "delegation" {
  description = <<-EOT
    Delegate a subdomain to gtm's own DNS nodes: an NS record for subdomain in the parent hosted zone
    parent_zone_id naming the keys of nameservers, and A/AAAA glue for the name servers inside the subdomain.
    nameservers maps each NS host name (lower case, no trailing dot) to its addresses; hosts outside the
    subdomain take [] (their addresses live in their own zone). null: no delegation.
  EOT
  type = object({
    parent_zone_id = string
    subdomain      = string
    nameservers    = map(list(string))
    ttl            = optional(number, 3600)
  })
  default = null

  validation {
    condition     = var.delegation == null ? true : can(regex("^Z[A-Z0-9]{1,31}$", var.delegation.parent_zone_id))
    error_message = "delegation.parent_zone_id: a hosted zone id such as Z0123456789ABCDEFGHIJ."
  }

  validation {
    condition = var.delegation == null ? true : can(regex(
      "^([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.delegation.subdomain
    ))
    error_message = "delegation.subdomain: a lower-case domain name without the trailing dot (e.g. gtm.example.com)."
  }

  validation {
    condition = var.delegation == null ? true : (length(var.delegation.nameservers) >= 1 && alltrue([
      for host in keys(var.delegation.nameservers) : can(regex(
        "^([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", host
      ))
    ]))
    error_message = "delegation.nameservers: at least one name server; each a lower-case host name without the trailing dot."
  }

  validation {
    condition = var.delegation == null ? true : alltrue(flatten([
      for host, ips in var.delegation.nameservers : [
        for ip in ips : (strcontains(ip, ":")
          ? lower(ip) == ip && can(cidrhost("${ip}/128", 0))
        : can(cidrhost("${ip}/32", 0)))
      ]
    ]))
    error_message = "delegation.nameservers: every address an IPv4 address or a lower-case IPv6 address."
  }

  validation {
    condition = var.delegation == null ? true : alltrue([
      for host, ips in var.delegation.nameservers :
      (host == var.delegation.subdomain || endswith(host, ".${var.delegation.subdomain}")) == (length(ips) > 0)
    ])
    error_message = "delegation.nameservers: a name server inside the subdomain needs its addresses (glue); one outside takes []."
  }

  validation {
    condition     = var.delegation == null ? true : (var.delegation.ttl >= 0 && var.delegation.ttl <= 2147483647)
    error_message = "delegation.ttl: 0 to 2147483647 seconds."
  }
}

# -- IAM for `gtm route53 plan|apply` -----------------------------------------------------------------------
variable "create_iam" {
  description = "Create <prefix>-route53, the least-privilege policy for the principal that runs `gtm route53 plan|apply` (needs the hosted zone: create_zone or zone_id)."
  type        = bool
  default     = true
}

variable "record_name_patterns" {
  description = <<-EOT
    Restrict ChangeResourceRecordSets to these record names (IAM StringLike patterns on
    route53:ChangeResourceRecordSetsNormalizedRecordNames: lower case, no trailing dot). gtm writes each
    managed name and its internal names _gtm-....<name>, so ["www.example.com", "*.www.example.com"] per
    service fits, plus the apply lock "_gtm-lock.<zone>". null: any name in the zone.
  EOT
  type        = list(string)
  default     = null

  validation {
    condition = var.record_name_patterns == null ? true : (length(var.record_name_patterns) > 0 && alltrue([
      for p in var.record_name_patterns : can(regex("^[a-z0-9_*?-]+(\\.[a-z0-9_*?-]+)*$", p))
    ]))
    error_message = "record_name_patterns: null or a non-empty list of lower-case names without the trailing dot; * and ? match as in IAM StringLike."
  }
}

variable "attach_to_role_names" {
  description = "IAM role names of the operators (and CI) to attach the writing policies to (<prefix>-route53, <prefix>-overrides). DNS nodes get the read-only one through node_role_names. For other principals, attach the policy_arn outputs yourself."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for r in var.attach_to_role_names : can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", r))])
    error_message = "attach_to_role_names: IAM role names (1 to 64 of A-Z a-z 0-9 + = , . @ _ -), not ARNs."
  }
}

variable "node_role_names" {
  description = "IAM role names of the DNS nodes: the read-only <prefix>-overrides-read policy is attached to them (nodes read the overrides in force and write nothing)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for r in var.node_role_names : can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", r))])
    error_message = "node_role_names: IAM role names (1 to 64 of A-Z a-z 0-9 + = , . @ _ -), not ARNs."
  }
}

# -- the override table (failover drills) -------------------------------------------------------------------
variable "create_override_table" {
  description = "Create the DynamoDB table of operator overrides (versioned items, conditional writes) and its <prefix>-overrides policy."
  type        = bool
  default     = false
}

variable "override_table_name" {
  description = "Name of the override table."
  type        = string
  default     = "gtm-overrides"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{3,255}$", var.override_table_name))
    error_message = "override_table_name: 3 to 255 of A-Z a-z 0-9 _ . -"
  }
}

variable "override_stream_read" {
  description = "Also allow reading the table's stream (DescribeStream, GetShardIterator, GetRecords on <table arn>/stream/*), for nodes that follow changes instead of polling."
  type        = bool
  default     = false
}

# -- Route53's own DNSSEC ------------------------------------------------------------------------------------
variable "route53_dnssec" {
  description = "Have Route53 sign the mirror's hosted zone with DNSSEC: a KMS key (ECC_NIST_P256, in us-east-1 through the aws.us_east_1 provider), a key-signing key and zone signing (dnssec.tf). The DS record to give the parent is the route53_ds_record output."
  type        = bool
  default     = false
}
