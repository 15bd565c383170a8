"""An org's gate thresholds (the IC quorum)."""
