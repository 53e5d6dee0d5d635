"""Delivery: what the origin publishes to listeners, from memory, in constant time."""
