"""Route53 mirror: the same policies as native Route53 record sets and health checks (see docs/route53.md)."""
