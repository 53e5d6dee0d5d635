"""Several origins as one cluster: leases, the replicated program, shared listener counts."""
