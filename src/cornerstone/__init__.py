"""Cornerstone: commercial real estate deal and fund operations platform."""

__version__ = "0.1.0"
