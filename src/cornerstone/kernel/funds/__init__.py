"""Funds, their NAV marks and the commitments investors make to them."""
