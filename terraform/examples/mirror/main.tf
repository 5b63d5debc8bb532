# The Route53 mirror of the bundled example (zones/example.com.yaml): the public hosted zone example.com, the
# least-privilege policy for `gtm route53 plan|apply` (record writes limited to the two services' names), and
# the override table, both policies attached to the role that runs gtm.
#
#   terraform init && terraform apply -var role_name=gtm-mirror
#   gtm route53 plan zones/ --zone example.com

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
  description = "AWS region of the provider (Route53 and IAM are global; the override table lives here)."
  type        = string
  default     = "us-east-1"
}

variable "role_name" {
  description = "IAM role that runs `gtm route53 apply` (null: attach nothing)."
  type        = string
  default     = null
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

  zone_name = "example.com"

  # The services www and api: each managed name and the _gtm-... names gtm writes below it; and the zone's
  # apply lock.
  record_name_patterns = [
    "www.example.com",
    "*.www.example.com",
    "api.example.com",
    "*.api.example.com",
    "shop.example.com",
    "*.shop.example.com",
    "_gtm-lock.example.com",
  ]

  create_override_table = true
  override_table_name   = "gtm-overrides"

  attach_to_role_names = var.role_name == null ? [] : [var.role_name]

  tags = {
    project = "gtm"
  }
}

output "name_servers" {
  description = "Set these as example.com's NS records at the registrar."
  value       = module.gtm.name_servers
}

output "route53_policy_arn" {
  description = "The policy for `gtm route53 plan|apply`."
  value       = module.gtm.route53_policy_arn
}

output "override_table_name" {
  description = "The override table."
  value       = module.gtm.override_table_name
}
