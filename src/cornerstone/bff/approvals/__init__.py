"""Public deal approvals routes."""
