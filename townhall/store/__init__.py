"""Stores for durable space metadata, behind one small Protocol."""
