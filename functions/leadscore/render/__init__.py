"""Pure renderers (no AWS, no I/O) for what the engine sends to people: the sales alert email."""
