"""The program clock: mix, encode, package; run here or by the lease holder; made, recovered."""
