"""The space registry: every space held here, its host keys, hosting quotas, saving, ending."""
