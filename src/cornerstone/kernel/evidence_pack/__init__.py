"""Deal evidence packs: a deterministic, signed archive of a deal's events and evidence, verifiable offline."""
