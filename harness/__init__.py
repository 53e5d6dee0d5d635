"""The test and bench harness: real servers (origin, nginx edge, PostgreSQL, redis-server,
cluster) started on loopback ports, and the clients and signals that measure them.

Importable from anywhere once installed (`pip install -e .`): the suite and `bench/` share it
without `sys.path` edits."""
