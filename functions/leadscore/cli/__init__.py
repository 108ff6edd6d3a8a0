"""Command-line tools around the scoring core."""
