"""In step with the other origins: the live set and records, security news between them."""
