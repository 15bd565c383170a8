"""Approvals and denials of a deal's outgoing edges, counted per person and stage visit."""
