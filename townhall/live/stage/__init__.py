"""The WebRTC stage: speakers' WHIP sessions, mix-minus, aiortc adapters, the shared stage."""
