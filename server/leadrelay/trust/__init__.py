"""Who may send what: rate limits (and, beside them, the checks that decide what a request may claim)."""
