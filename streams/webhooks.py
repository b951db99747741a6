"""Signed webhook delivery of alerts, in the background, with retries; never blocks the stream.

Request: POST, body = the Alert as JSON (format json) or a Slack message (format slack:
{"text": ..., "blocks": [...]}), with headers
    X-Wirewatch-Timestamp: <unix seconds>
    X-Wirewatch-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>
    X-Wirewatch-Delivery:  <id, the same for every attempt of one delivery>
    X-Wirewatch-Alert-Id:  <alert id>
The signature headers are sent when the webhook (or the notifier's default) has a secret.
Receivers check them with `verify_signature(secret, request.headers, raw_body)` (constant-time
compare, 5 minute replay window) and may drop repeated Delivery ids; an alert that is updated
later is sent again with the same Alert-Id, so receivers should upsert by it.

Delivery: each webhook URL has its own bounded queue and one background task, so a slow or dead
endpoint only fills its own queue. `submit` never waits: when the queue is full the alert is
dropped (outcome "dropped"). A delivery is retried with exponential backoff and full jitter on
connection errors, timeouts, 5xx, 408 and 429 (Retry-After is honoured up to max_delay); other
4xx and 3xx fail at once (the request itself is wrong, or the endpoint moved). Every outcome is
reported as on_result(desk, outcome): delivered | retried (once per retry) | failed | dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import aiohttp

from streams.records import Alert
from streams.rules import Webhook, WebhookFormat, redacted_url

log = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-Wirewatch-Timestamp"
SIGNATURE_HEADER = "X-Wirewatch-Signature"
DELIVERY_HEADER = "X-Wirewatch-Delivery"
ALERT_ID_HEADER = "X-Wirewatch-Alert-Id"
SIGNATURE_PREFIX = "sha256="
USER_AGENT = "wirewatch-webhooks/1"

OUTCOMES = ("delivered", "retried", "failed", "dropped")
OnResult = Callable[[str, str], None]

_RETRY_STATUSES = frozenset({408, 429})


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value: sha256=<hex HMAC-SHA256 over "<timestamp>." + body>."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance_seconds: float = 300.0,
) -> bool:
    """For receivers: whether a request's X-Wirewatch-Timestamp/-Signature fit its raw body.

    headers: the request's headers (any mapping; names are matched without regard to case).
    Rejects timestamps further than tolerance_seconds from `now` (default: the current time), so a
    captured request cannot be replayed later. Compares in constant time.
    """
    timestamp = _header(headers, TIMESTAMP_HEADER)
    signature = _header(headers, SIGNATURE_HEADER)
    if timestamp is None or signature is None:
        return False
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.casefold()
    return next((v for k, v in headers.items() if k.casefold() == wanted), None)


def alert_json(alert: Alert) -> bytes:
    """The json format body: the Alert's fields as a JSON object."""
    return json.dumps(alert.asdict(), ensure_ascii=False, sort_keys=True).encode("utf-8")


def slack_message(alert: Alert) -> dict[str, object]:
    """A Slack incoming-webhook message for an alert (text fallback plus Block Kit blocks)."""
    title = f"{'Update: ' if alert.update else ''}{alert.headline or alert.rule}"
    fields = [
        f"*Desk*\n{_slack_escape(alert.desk)}",
        f"*Severity*\n{alert.severity}",
        f"*Places*\n{_slack_escape(', '.join(alert.places[:5]) or '-')}",
        f"*Categories*\n{_slack_escape(', '.join(alert.categories) or '-')}",
        f"*Sources*\n{_slack_escape(', '.join(alert.sources) or '-')}",
        f"*Stories*\n{alert.story_count}",
    ]
    context = f"{alert.kind} `{_slack_escape(alert.rule)}` · alert `{_slack_escape(alert.id)}`"
    return {
        "text": _clip(f"[{alert.desk}] {title} (severity {alert.severity})", 3000),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": _clip(title, 150)}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _clip(_slack_escape(alert.message), 3000)},
                "fields": [{"type": "mrkdwn", "text": _clip(f, 2000)} for f in fields],
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(context, 3000)}]},
        ],
    }


def render_body(alert: Alert, fmt: WebhookFormat) -> bytes:
    """The request body of an alert in a webhook format."""
    if fmt == "slack":
        return json.dumps(slack_message(alert), ensure_ascii=False).encode("utf-8")
    return alert_json(alert)


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long one attempt may take and how attempts are spaced."""

    max_attempts: int = 5
    timeout_seconds: float = 5.0
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, retry: int, rng: random.Random) -> float:
        """Seconds before retry number `retry` (1, 2, ...): full jitter on base * 2**(retry-1)."""
        return rng.uniform(0.0, min(self.max_delay, self.base_delay * 2 ** (retry - 1)))


@dataclass(slots=True)
class _Delivery:
    desk: str
    webhook: Webhook
    alert: Alert
    delivery_id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True, slots=True)
class _Attempt:
    """The result of one HTTP attempt: retry or not, and after how long at least."""

    ok: bool
    retry: bool
    detail: str
    retry_after: float = 0.0


class WebhookNotifier:
    """Delivers alerts to webhooks from background tasks; `submit` never blocks."""

    def __init__(
        self,
        *,
        on_result: OnResult | None = None,
        queue_size: int = 100,
        retry: RetryPolicy | None = None,
        default_secret: str = "",
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.on_result = on_result
        self.queue_size = queue_size
        self.retry = retry or RetryPolicy()
        self.default_secret = default_secret
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - backoff jitter, not cryptography
        self._session = session
        self._own_session = session is None
        self._queues: dict[str, asyncio.Queue[_Delivery]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._closed = False
        self._pending = 0

    async def start(self) -> None:
        """Open the HTTP session (call from the running event loop, e.g. on app start)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})

    def submit(self, desk: str, webhook: Webhook, alert: Alert) -> bool:
        """Queue an alert for a webhook; False (outcome "dropped") when its queue is full."""
        if self._closed:
            self._report(desk, "dropped")
            return False
        queue = self._queues.get(webhook.url)
        if queue is None:
            queue = self._queues[webhook.url] = asyncio.Queue(self.queue_size)
            self._workers[webhook.url] = asyncio.get_running_loop().create_task(
                self._work(queue), name=f"webhook {redacted_url(webhook.url)}"
            )
        try:
            queue.put_nowait(_Delivery(desk, webhook, alert))
        except asyncio.QueueFull:
            log.warning("webhook %s: queue full, alert %s dropped",
                        redacted_url(webhook.url), alert.id)
            self._report(desk, "dropped")
            return False
        self._pending += 1
        return True

    def pending(self) -> int:
        """Deliveries queued or in progress, over all webhooks."""
        return self._pending

    async def drain(self) -> None:
        """Wait until every queued delivery has finished (delivered, failed or given up)."""
        await asyncio.gather(*(q.join() for q in self._queues.values()))

    async def close(self, timeout: float = 5.0) -> None:
        """Stop taking alerts, give queued ones `timeout` seconds, then cancel and close."""
        self._closed = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.drain(), timeout)
        for task in self._workers.values():
            task.cancel()
        await asyncio.gather(*self._workers.values(), return_exceptions=True)
        for queue in self._queues.values():
            while not queue.empty():
                self._pending -= 1
                self._report(queue.get_nowait().desk, "dropped")
        self._workers.clear()
        self._queues.clear()
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def _work(self, queue: asyncio.Queue[_Delivery]) -> None:
        while True:
            delivery = await queue.get()
            try:
                await self._deliver(delivery)
            except asyncio.CancelledError:  # closing: the delivery in progress is given up
                self._report(delivery.desk, "dropped")
                raise
            except Exception:  # a bug here must not stop later deliveries
                log.exception("webhook %s: delivery crashed", redacted_url(delivery.webhook.url))
                self._report(delivery.desk, "failed")
            finally:
                self._pending -= 1
                queue.task_done()

    async def _deliver(self, delivery: _Delivery) -> None:
        hook = delivery.webhook
        body = render_body(delivery.alert, hook.format)
        secret = hook.secret.reveal() if hook.secret else self.default_secret
        for attempt_no in range(1, self.retry.max_attempts + 1):
            attempt = await self._attempt(delivery, body, secret)
            if attempt.ok:
                self._report(delivery.desk, "delivered")
                return
            last = attempt_no == self.retry.max_attempts
            if not attempt.retry or last:
                log.warning("webhook %s: alert %s failed after %d attempt(s): %s",
                            redacted_url(hook.url), delivery.alert.id, attempt_no, attempt.detail)
                self._report(delivery.desk, "failed")
                return
            self._report(delivery.desk, "retried")
            wait = max(self.retry.delay(attempt_no, self.rng),
                       min(attempt.retry_after, self.retry.max_delay))
            log.info("webhook %s: %s; retry %d in %.2fs",
                     redacted_url(hook.url), attempt.detail, attempt_no, wait)
            await asyncio.sleep(wait)

    async def _attempt(self, delivery: _Delivery, body: bytes, secret: str) -> _Attempt:
        if self._session is None:
            await self.start()
        assert self._session is not None
        timestamp = str(int(self.clock()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            DELIVERY_HEADER: delivery.delivery_id,
            ALERT_ID_HEADER: delivery.alert.id,
        }
        if secret:
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
        try:
            async with self._session.post(
                delivery.webhook.url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.retry.timeout_seconds),
                allow_redirects=False,
            ) as response:
                await response.read()
                status = response.status
                retry_after = _retry_after(response.headers.get("Retry-After"))
        except (aiohttp.ClientError, TimeoutError) as exc:
            return _Attempt(False, True, f"{type(exc).__name__}: {exc}".rstrip(": "))
        if 200 <= status < 300:
            return _Attempt(True, False, str(status))
        retry = status >= 500 or status in _RETRY_STATUSES
        return _Attempt(False, retry, f"HTTP {status}", retry_after)

    def _report(self, desk: str, outcome: str) -> None:
        if self.on_result is None:
            return
        try:
            self.on_result(desk, outcome)
        except Exception:  # metrics must never break delivery
            log.exception("on_result callback failed")


def _retry_after(value: str | None) -> float:
    if not value:
        return 0.0
    try:
        return max(0.0, float(value))
    except ValueError:
        return 0.0  # an HTTP date: fall back to our own backoff
