"""Application services: orchestrate the core and the adapters."""
