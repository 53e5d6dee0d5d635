"""Ingest: getting a speaker's audio in (Icecast-style HTTP push; WHIP later)."""
