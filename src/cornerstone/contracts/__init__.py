"""Wire schemas of the kernel's internal API: the kernel serves them, the BFF's client speaks them.

Sharing the definitions is not sharing code paths: the BFF still reaches the kernel over HTTP only.
"""
