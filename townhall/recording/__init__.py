"""Recording: the replay is the published live bytes, chained by SHA-256."""
