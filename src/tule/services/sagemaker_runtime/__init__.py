"""SageMaker Runtime: InvokeEndpoint and InvokeEndpointAsync against the endpoints the SageMaker
domain serves (specs/aws-apis.md §4.5 to §4.7). The endpoints live in the SageMaker domain; this
service is their data plane, reached through that domain's public API."""

from __future__ import annotations

from typing import Any

from tule.services.base import ServiceEnv

__all__ = ["SageMakerRuntime"]


class SageMakerRuntime:
    """The runtime's domain: the SageMaker domain's invocations."""

    def __init__(self, env: ServiceEnv) -> None:
        self.invocations = env.peer("sagemaker").hosting.invocations

    async def invoke_endpoint(
        self, account: str, region: str, request: dict[str, Any]
    ) -> dict[str, Any]:
        return await self.invocations.ainvoke(account, region, request)

    def invoke_endpoint_async(
        self, account: str, region: str, request: dict[str, Any]
    ) -> dict[str, Any]:
        return self.invocations.invoke_endpoint_async(account, region, request)
