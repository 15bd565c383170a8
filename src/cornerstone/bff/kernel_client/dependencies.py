from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from cornerstone.bff.kernel_client.client import KernelClient


async def kernel_client(request: Request) -> KernelClient:
    client: KernelClient = request.app.state.kernel
    return client


Kernel = Annotated[KernelClient, Depends(kernel_client)]
