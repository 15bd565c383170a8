"""A deal's materials: facts with a truth class (DOC > HUMAN > AI), revised, never overwritten."""
