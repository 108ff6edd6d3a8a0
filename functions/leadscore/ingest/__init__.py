"""Pure validation and mapping of what arrives over HTTP (forms, tracking, signatures)."""
