"""Plumbing shared by the kernel and the BFF; imports neither service."""
