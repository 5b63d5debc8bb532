# Self-hosted mode: the existing zone example.com delegates gtm.example.com to two gtm DNS nodes,
# ns1.gtm.example.com and ns2.gtm.example.com, with IPv4 and IPv6 glue in the parent zone (documentation
# addresses from RFC 5737 and RFC 3849). No mirror zone and no Route53 policy: the nodes answer themselves.
#
#   terraform init && terraform apply -var parent_zone_id=Z0123456789ABCDEFGHIJ

terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

variable "region" {
  description = "AWS region of the provider (Route53 is global)."
  type        = string
  default     = "us-east-1"
}

variable "parent_zone_id" {
  description = "Hosted zone id of the parent zone, example.com."
  type        = string
}

provider "aws" {
  region = var.region
}

# Route53's DNSSEC key lives in KMS in us-east-1 (the module's route53_dnssec; off here, so nothing is made there)
provider "aws" {
  alias  = "us_east_1"
  region = "us-east-1"
}

module "gtm" {
  source = "../.."
  providers = {
    aws           = aws
    aws.us_east_1 = aws.us_east_1
  }

  create_zone = false
  create_iam  = false

  delegation = {
    parent_zone_id = var.parent_zone_id
    subdomain      = "gtm.example.com"
    nameservers = {
      "ns1.gtm.example.com" = ["192.0.2.53", "2001:db8::53"]
      "ns2.gtm.example.com" = ["198.51.100.53", "2001:db8:1::53"]
    }
    ttl = 3600
  }
}

output "delegation" {
  description = "The NS record and glue written in the parent zone."
  value       = module.gtm.delegation
}
