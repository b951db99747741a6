"""Dead letters: the original bytes of a message that cannot be processed, with the reason in headers."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Any

from faust.types import Message, TopicT

from streams import metrics

HEADER_REASON = "wirewatch-reason"
HEADER_DETAIL = "wirewatch-detail"
HEADER_STAGE = "wirewatch-stage"
HEADER_ORIGIN = "wirewatch-origin"  # topic/partition/offset of the original message
HEADER_AT = "wirewatch-failed-at"


def deadletter_headers(message: Message, reason: str, detail: str,
                       stage: str) -> list[tuple[str, bytes]]:
    """Headers that say why and where a message failed (values are UTF-8)."""
    origin = f"{message.topic}/{message.partition}/{message.offset}"
    return [
        (HEADER_REASON, reason.encode()),
        (HEADER_DETAIL, detail[:4000].encode("utf-8", "replace")),
        (HEADER_STAGE, stage.encode()),
        (HEADER_ORIGIN, origin.encode()),
        (HEADER_AT, f"{time.time():.3f}".encode()),
    ]


async def send_to_deadletter(topic: TopicT, message: Message, reason: str, detail: str,
                             stage: str) -> Awaitable[Any]:
    """Send the original key and bytes to the dead-letter topic; count it by reason."""
    metrics.DEADLETTER.labels(reason).inc()
    value = message.value if isinstance(message.value, bytes) else bytes(message.value or b"")
    key = message.key if isinstance(message.key, bytes) or message.key is None else None
    return await topic.send(key=key, value=value,
                            headers=deadletter_headers(message, reason, detail, stage))
