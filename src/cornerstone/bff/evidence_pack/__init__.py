"""Public deal evidence-pack route."""
