"""The BFF: the public API. Talks to the kernel over HTTP only (``kernel_client``)."""
