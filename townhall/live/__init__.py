"""Live services: the asyncio tasks that run one space's program (mix, encode, package).

`program/` the program clock, `stage/` the WebRTC speakers, `sources/` push sources,
`joins/` admissions, `registry/` the spaces and their keys and quotas, `cluster_sync/` the
news between origins; `errors`, `tasks` and `descriptors` are shared by all of them.
"""
