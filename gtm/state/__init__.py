"""Operators' overrides: the pure rules (``overrides``: targets, later-wins, expiry, the forces steering
applies; ``guard``: the guardrails), and the stores that share them between nodes (``store``: the protocol,
the file backend; ``dynamodb``: the DynamoDB backend). See docs/drills.md."""
