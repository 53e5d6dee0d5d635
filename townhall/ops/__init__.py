"""Operations: metrics for Prometheus, structured logs."""
