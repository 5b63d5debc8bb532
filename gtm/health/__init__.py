"""Health: probes, the prober loop, signed reports, aggregation into verdicts (see docs/health.md)."""
