"""Live services: the asyncio tasks that run one space's program (mix, encode, package)."""
