"""Admin overrides of one edge's gate: a written attestation, single use."""
