terraform {
  # 1.5: strcontains() in the delegation glue; optional() object attributes need 1.3.
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
      # us_east_1: Route53's DNSSEC key-signing key lives in KMS in us-east-1 (dnssec.tf); pass your default
      # provider when route53_dnssec is off and that is not its region (nothing is made with it then)
      configuration_aliases = [aws.us_east_1]
    }
  }
}
