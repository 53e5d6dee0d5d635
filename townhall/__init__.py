"""townhall: live audio spaces that keep playing through a flash crowd."""

__version__ = "0.1.0"
