"""Push sources (ffmpeg, OBS): a pushed stream's session and decoder, which one is on air."""
