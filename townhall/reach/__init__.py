"""Reach beyond the space's own page: the podcast feed, the embeddable player's oEmbed, signed
webhooks and the host's analytics (docs/reach.md)."""
