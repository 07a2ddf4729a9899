"""Risk-limiting audits of the paper (issue 18): setup, seed ceremony, reproducible samples,
blind double hand counts, measured risk per round, escalation to a full hand count."""
