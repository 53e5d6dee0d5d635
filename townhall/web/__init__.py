"""The HTTP edge: control API, LL-HLS media, replay, pages. Thin: read, call a service, write."""
