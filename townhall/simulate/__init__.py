"""A capacity model of a townhall deployment for millions of listeners. Pure arithmetic."""
