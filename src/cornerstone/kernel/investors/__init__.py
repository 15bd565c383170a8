"""Investors (LP entities), with their sensitive identifiers encrypted at rest."""
