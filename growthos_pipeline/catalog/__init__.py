"""The control plane: orgs, projects, keys, tokens, sessions, idempotency records, audit log."""
