"""Media core: CMAF packaging, LL-HLS playlists, mixing. No I/O, no clocks of its own."""
