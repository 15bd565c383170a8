"""Operator tooling: demo data, org administration, process supervision, integrity checks."""
