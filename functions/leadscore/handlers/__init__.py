"""Lambda entry points: thin Powertools handlers."""
