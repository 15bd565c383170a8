"""Distributions: how cash paid out of a fund is split between its LPs and the GP."""
