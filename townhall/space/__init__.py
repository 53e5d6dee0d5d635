"""Spaces: lifecycle and records. No I/O."""
