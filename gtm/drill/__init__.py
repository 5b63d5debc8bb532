"""Failover drills and incident failover: change overrides everywhere (the store, Route53's switch checks),
verify with real DNS queries from many client networks that answers moved, hold, restore, report.
See docs/drills.md."""
