"""Files in S3-compatible object storage (NOTIFY_FILES_BUCKET): put, get, delete.

Rules:
- The client is the AWS providers' (``engine.providers.aws.open_client``: aiobotocore on
  the lean trio HTTP session, one attempt per call); ``NOTIFY_FILES_ENDPOINT_URL`` points
  it at an S3-compatible store (MinIO, Ceph, moto), with path-style addressing there.
- Only sealed bytes are given here (``engine.store.documents`` seals before ``put``):
  the bucket holds ciphertext bound to each document's id. Server-side encryption may be
  added by the bucket's policy; it is not relied on.
- A GetObject body is streamed by botocore (its HttpxSession fallback), read whole: files
  are at most 10 MiB.
- ``delete`` takes up to 1,000 keys a call (DeleteObjects' limit); deleting an absent key
  is not an error (S3 answers it as deleted), so housekeeping may repeat itself.
- Errors propagate (botocore's): the API answers 500 and writes nothing (no row names an
  object that was not written); housekeeping logs and tries again next round.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from aiobotocore.config import AioConfig

from engine.config import Settings
from engine.providers.aws import client_config, open_client


class S3Objects:
    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    async def put(self, key: str, data: bytes) -> None:
        await self._client.put_object(Bucket=self.bucket, Key=key, Body=data)

    async def get(self, key: str) -> bytes:
        answer = await self._client.get_object(Bucket=self.bucket, Key=key)
        async with answer["Body"] as body:
            return bytes(await body.read())

    async def delete(self, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            answer = await self._client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
            )
            errors = answer.get("Errors") or []
            if errors:
                raise RuntimeError(f"DeleteObjects refused {len(errors)} keys: {errors[0]}")


@asynccontextmanager
async def open_objects(settings: Settings) -> AsyncIterator[S3Objects]:
    """The bucket's client for the engine's life."""
    config = client_config(max_connections=16)
    endpoint = settings.files_endpoint_url or settings.aws_endpoint_url
    if endpoint:
        config = config.merge(AioConfig(s3={"addressing_style": "path"}))
    scoped = msgspec.structs.replace(settings, aws_endpoint_url=endpoint)
    async with open_client("s3", scoped, config=config) as client:
        yield S3Objects(client, settings.files_bucket)
