"""leadscore: lead and account scoring with rules kept as YAML in Git."""
