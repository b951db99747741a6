"""Webhook delivery against a real local HTTP server: signatures, retries, failures, full queues."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from streams.records import Alert
from streams.rules import Webhook
from streams.settings import Secret
from streams.webhooks import (
    ALERT_ID_HEADER,
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    RetryPolicy,
    WebhookNotifier,
    sign,
    slack_message,
    verify_signature,
)
from tests.conftest import free_port
from tests.localhttp import LocalServer

SECRET = "s3cr3t-eurasia"
FAST = RetryPolicy(max_attempts=3, timeout_seconds=0.3, base_delay=0.01, max_delay=0.05)


def make_alert(**changes: object) -> Alert:
    fields: dict[str, object] = dict(
        id="eurasia/c4f1d2e3a4b5c6d7e", kind="rule", desk="eurasia", rule="eurasia-violence",
        story_id="reuters-almaty-1", cluster_id="c4f1d2e3a4b5c6d7e",
        headline="Shots heard in Almaty as troops move on protesters in main square",
        message="Shots heard in Almaty (Almaty; severity 62; shooting, storming; Reuters)",
        severity=62, countries=["KZ"], places=["Almaty"], categories=["shooting", "storming"],
        sources=["Reuters"], story_ids=["reuters-almaty-1"], story_count=1, update=False,
        created_at=1641456000.5, updated_at=1641456000.5, received_at=1641456000.0,
        latency_seconds=0.5, lat=43.25249, lon=76.9115,
    )
    fields.update(changes)
    return Alert(**fields)


@dataclass
class Receiver:
    """A local webhook endpoint whose behaviour is chosen by path."""

    base: str = ""
    requests: dict[str, list[tuple[dict[str, str], bytes]]] = field(default_factory=dict)
    verified: list[bool] = field(default_factory=list)
    hanging: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str) -> str:
        return self.base + path

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        name = request.match_info["name"]
        seen = self.requests.setdefault(name, [])
        seen.append((dict(request.headers), body))
        if TIMESTAMP_HEADER in request.headers:
            self.verified.append(verify_signature(SECRET, request.headers, body))
        if name == "flaky" and len(seen) <= 2:
            return web.Response(status=503, text="try later")
        if name == "bad":
            return web.Response(status=400, text="no such channel")
        if name == "busy" and len(seen) == 1:
            return web.Response(status=429, headers={"Retry-After": "0"})
        if name == "slow" and len(seen) == 1:
            await asyncio.sleep(2)
        if name == "hang":
            self.hanging.set()
            await self.release.wait()
        return web.Response(status=200, text="ok")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    server = LocalServer([("POST", "/hooks/{name}", rec.handle)], shutdown_timeout=0.1)
    await server.start()
    rec.base = f"{server.url}/hooks/"
    yield rec
    rec.release.set()
    await server.stop()


@dataclass
class Outcomes:
    seen: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, desk: str, outcome: str) -> None:
        self.seen.append((desk, outcome))

    @property
    def names(self) -> list[str]:
        return [outcome for _, outcome in self.seen]


async def deliver(hook: Webhook, alert: Alert, retry: RetryPolicy = FAST,
                  default_secret: str = "") -> list[str]:
    outcomes = Outcomes()
    notifier = WebhookNotifier(on_result=outcomes, retry=retry, rng=random.Random(7),
                               default_secret=default_secret)
    await notifier.start()
    try:
        assert notifier.submit("eurasia", hook, alert)
        await asyncio.wait_for(notifier.drain(), 10)
    finally:
        await notifier.close()
    return outcomes.names


async def test_signed_json_delivery(receiver: Receiver) -> None:
    alert = make_alert()
    hook = Webhook(receiver.url("ok"), "json", Secret(SECRET))
    assert await deliver(hook, alert) == ["delivered"]
    [(headers, body)] = receiver.requests["ok"]
    assert receiver.verified == [True]
    assert json.loads(body) == alert.asdict()
    assert headers[ALERT_ID_HEADER] == alert.id
    assert len(headers[DELIVERY_HEADER]) == 32
    assert headers["Content-Type"].startswith("application/json")


async def test_default_secret_signs_and_no_secret_sends_unsigned(receiver: Receiver) -> None:
    assert await deliver(Webhook(receiver.url("ok")), make_alert(), default_secret=SECRET) == [
        "delivered"
    ]
    assert await deliver(Webhook(receiver.url("plain")), make_alert()) == ["delivered"]
    assert receiver.verified == [True]
    [(headers, _)] = receiver.requests["plain"]
    assert SIGNATURE_HEADER not in headers and TIMESTAMP_HEADER not in headers


async def test_fails_twice_then_succeeds(receiver: Receiver) -> None:
    hook = Webhook(receiver.url("flaky"), "json", Secret(SECRET))
    assert await deliver(hook, make_alert()) == ["retried", "retried", "delivered"]
    requests = receiver.requests["flaky"]
    assert len(requests) == 3
    assert len({h[DELIVERY_HEADER] for h, _ in requests}) == 1  # one delivery, three attempts
    assert receiver.verified == [True, True, True]


@pytest.mark.parametrize(
    ("path", "outcomes", "requests"),
    [
        ("bad", ["failed"], 1),  # 400: the request is wrong, retrying will not help
        ("busy", ["retried", "delivered"], 2),  # 429 with Retry-After: 0
        ("slow", ["retried", "delivered"], 2),  # the first attempt times out
    ],
)
async def test_status_and_timeouts(
    receiver: Receiver, path: str, outcomes: list[str], requests: int
) -> None:
    assert await deliver(Webhook(receiver.url(path)), make_alert()) == outcomes
    assert len(receiver.requests[path]) == requests


async def test_endpoint_down_fails_after_retries() -> None:
    hook = Webhook(f"http://127.0.0.1:{free_port()}/hooks/gone", "json", Secret(SECRET))
    started = time.monotonic()
    assert await deliver(hook, make_alert()) == ["retried", "retried", "failed"]
    assert time.monotonic() - started < 5


async def test_full_queue_drops_instead_of_blocking(receiver: Receiver) -> None:
    outcomes = Outcomes()
    notifier = WebhookNotifier(on_result=outcomes, queue_size=1, retry=FAST)
    await notifier.start()
    hook = Webhook(receiver.url("hang"))
    ok = Webhook(receiver.url("ok"), "json", Secret(SECRET))
    try:
        assert notifier.submit("greece", hook, make_alert(id="greece/c1"))
        await asyncio.wait_for(receiver.hanging.wait(), 5)  # the worker is stuck on the first
        assert notifier.submit("greece", hook, make_alert(id="greece/c2"))  # fills the queue
        started = time.perf_counter()
        accepted = notifier.submit("greece", hook, make_alert(id="greece/c3"))
        assert time.perf_counter() - started < 0.01
        assert not accepted and outcomes.seen == [("greece", "dropped")]
        # Another webhook is not held up by the stuck one.
        assert notifier.submit("eurasia", ok, make_alert())
        for _ in range(500):
            if ("eurasia", "delivered") in outcomes.seen:
                break
            await asyncio.sleep(0.01)
        assert ("eurasia", "delivered") in outcomes.seen
        assert notifier.pending() == 2  # greece/c1 in flight, greece/c2 queued
        receiver.release.set()
        await asyncio.wait_for(notifier.drain(), 5)
    finally:
        await notifier.close()
    assert sorted(outcomes.seen) == [
        ("eurasia", "delivered"), ("greece", "delivered"), ("greece", "delivered"),
        ("greece", "dropped"),
    ]
    assert [h[ALERT_ID_HEADER] for h, _ in receiver.requests["hang"]] == ["greece/c1", "greece/c2"]


async def test_close_reports_what_it_gives_up(receiver: Receiver) -> None:
    outcomes = Outcomes()
    notifier = WebhookNotifier(on_result=outcomes, queue_size=5, retry=FAST)
    await notifier.start()
    hook = Webhook(receiver.url("hang"))
    for i in range(3):
        assert notifier.submit("greece", hook, make_alert(id=f"greece/c{i}"))
    await asyncio.wait_for(receiver.hanging.wait(), 5)
    await notifier.close(timeout=0.1)
    assert outcomes.names == ["dropped", "dropped", "dropped"]
    assert notifier.pending() == 0
    assert not notifier.submit("greece", hook, make_alert())
    assert outcomes.names[-1] == "dropped"


async def test_slack_delivery(receiver: Receiver) -> None:
    alert = make_alert(update=True, message="+2 sources: TASS, Interfax <b>", story_count=3,
                       sources=["Reuters", "TASS", "Interfax"])
    assert await deliver(Webhook(receiver.url("slack"), "slack"), alert) == ["delivered"]
    [(_, body)] = receiver.requests["slack"]
    payload = json.loads(body)
    assert payload == slack_message(alert)
    assert payload["text"].startswith("[eurasia] Update: Shots heard in Almaty")
    header, section, context = payload["blocks"]
    assert header["text"]["text"].startswith("Update: Shots heard")
    assert section["text"]["text"] == "+2 sources: TASS, Interfax &lt;b&gt;"
    assert {"type": "mrkdwn", "text": "*Sources*\nReuters, TASS, Interfax"} in section["fields"]
    assert "eurasia/c4f1d2e3a4b5c6d7e" in context["elements"][0]["text"]


def test_slack_header_is_clipped() -> None:
    header = slack_message(make_alert(headline="Αλμάτι " * 40))["blocks"][0]["text"]["text"]
    assert len(header) == 150 and header.endswith("…")


BODY = b'{"id":"eurasia/c1","severity":62}'
NOW = 1_641_456_000


@pytest.mark.parametrize(
    ("secret", "body", "timestamp", "signature", "ok"),
    [
        (SECRET, BODY, str(NOW), sign(SECRET, str(NOW), BODY), True),
        (SECRET, BODY, str(NOW - 299), sign(SECRET, str(NOW - 299), BODY), True),
        ("other", BODY, str(NOW), sign(SECRET, str(NOW), BODY), False),  # wrong secret
        (SECRET, BODY + b" ", str(NOW), sign(SECRET, str(NOW), BODY), False),  # body changed
        (SECRET, BODY, str(NOW + 1), sign(SECRET, str(NOW), BODY), False),  # timestamp changed
        (SECRET, BODY, str(NOW - 301), sign(SECRET, str(NOW - 301), BODY), False),  # replayed
        (SECRET, BODY, "yesterday", sign(SECRET, "yesterday", BODY), False),
        (SECRET, BODY, str(NOW), sign(SECRET, str(NOW), BODY).removeprefix("sha256="), False),
    ],
)
def test_verify_signature(secret: str, body: bytes, timestamp: str, signature: str,
                          ok: bool) -> None:
    headers = {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature}
    assert verify_signature(secret, headers, body, now=NOW) is ok


@pytest.mark.parametrize(
    "headers",
    [
        {"x-wirewatch-timestamp": str(NOW), "x-wirewatch-signature": sign(SECRET, str(NOW), BODY)},
        {"X-WIREWATCH-TIMESTAMP": str(NOW), "X-Wirewatch-Signature": sign(SECRET, str(NOW), BODY)},
    ],
)
def test_verify_signature_header_names_ignore_case(headers: dict[str, str]) -> None:
    assert verify_signature(SECRET, headers, BODY, now=NOW)


@pytest.mark.parametrize(
    "headers",
    [{}, {TIMESTAMP_HEADER: str(NOW)}, {SIGNATURE_HEADER: sign(SECRET, str(NOW), BODY)}],
)
def test_verify_signature_without_headers(headers: dict[str, str]) -> None:
    assert not verify_signature(SECRET, headers, BODY, now=NOW)


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(b"k", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign("k", "1700000000", BODY) == "sha256=" + expected


@pytest.mark.parametrize(
    ("retry", "expected_max"),
    [(1, 0.5), (2, 1.0), (3, 2.0), (7, 30.0), (12, 30.0)],
)
def test_backoff_is_exponential_with_full_jitter_and_a_cap(retry: int, expected_max: float) -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=30.0)
    rng = random.Random(1)
    delays = [policy.delay(retry, rng) for _ in range(2000)]
    assert all(0 <= d <= expected_max for d in delays)
    assert max(delays) > 0.9 * expected_max and min(delays) < 0.1 * expected_max
