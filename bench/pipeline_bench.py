"""End-to-end pipeline benchmark on the real local stack, with a plain aiokafka baseline in the same run.

Prints, for wirewatch and for a consume->produce passthrough written with aiokafka alone:
  * sustained throughput (stories/s) for a burst of N stories published as fast as possible
    (wirewatch: until every story is in Elasticsearch, timed by the last document's indexed_at;
    baseline: until all are re-produced), and the ratio between the two;
  * ingest->alert latency p50/p95/p99 at a fixed offered rate (default 100 stories/s) for 15 s,
    after 5 s of warm-up at that rate (a fresh worker's first seconds are not its steady state)
    (baseline: ingest->passthrough output latency at the same rate);
  * where the CPU went during the throughput run: CPU milliseconds per story of the worker, its
    tagging processes, Kafka and Elasticsearch (from /proc), which is what bounds throughput on
    a machine whose cores they share;
  * the worker's peak RSS (VmHWM), tagging processes included.

Corpus (--corpus): "wire" (default) is distinct stories, each 5-9 sentences drawn at random from
the development set's stories of one language (six languages, places and violence terms come
along), with every fifth story a re-send of a recent one with a small edit, as agencies do;
"samples" is the bundled sample stories repeated with a line added, so every story joins one of
a few huge clusters (the heaviest case for alert updates).

Run with the stack up: `deploy/local/stack up && .venv/bin/python bench/pipeline_bench.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from elasticsearch import AsyncElasticsearch

REPO = Path(__file__).resolve().parent.parent
GOLD_DIR = REPO / "tests" / "devset" / "gold"
sys.path.insert(0, str(REPO))

from streams.feeds import read_stories  # noqa: E402
from streams.publish import publish_stories  # noqa: E402
from streams.records import Alert, RawStory  # noqa: E402
from streams.samples import sample_paths  # noqa: E402
from streams.settings import Settings  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def sample_corpus(tag: str, n: int) -> list[RawStory]:
    """n stories: the bundled samples, each copy with its own id and a varied line."""
    base = [s for p in sample_paths() for s in read_stories(p)]
    out = []
    for i in range(n):
        s = base[i % len(base)]
        out.append(RawStory(id=f"{tag}-{i:06d}", body=f"{s.body}\n\n({i}) {uuid.uuid4().hex[:8]}",
                            headline=s.headline, language=s.language, source=s.source,
                            published_at=s.published_at, format=s.format))
    return out


_SENTENCE_END = re.compile(r"(?<=[.!?»])\s+")
_AGENCIES = ("Reuters", "AFP", "AP", "TASS", "Interfax", "ANA-MPA", "Ukrinform", "EFE")


def wire_corpus(tag: str, n: int, seed: int = 7) -> list[RawStory]:
    """n stories like a wire feed: distinct stories of 5-9 sentences drawn from one language's
    development-set sentences, and every fifth one a re-send of a recent story, edited."""
    rng = random.Random(seed)
    sentences: dict[str, list[str]] = {}
    headlines: dict[str, list[str]] = {}
    for path in sorted(GOLD_DIR.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                story = json.loads(line)
                found = [x.strip() for x in _SENTENCE_END.split(story["body"]) if len(x) > 30]
                sentences.setdefault(path.stem, []).extend(found)
                headlines.setdefault(path.stem, []).append(story.get("headline") or "")
    languages = sorted(sentences)
    out: list[RawStory] = []
    for i in range(n):
        if i % 5 == 4 and len(out) >= 4:
            first = out[rng.randrange(len(out) - 4, len(out))]
            body = first.body.replace(". ", ", officials said. ", 1) + "\n\n(Updates with details)"
            out.append(RawStory(id=f"{tag}-{i:06d}", body=body, headline=first.headline,
                                language=first.language, source=rng.choice(_AGENCIES)))
            continue
        language = languages[i % len(languages)]
        picked = rng.sample(sentences[language], rng.randint(5, 9))
        paragraphs = [" ".join(picked[k:k + 2]) for k in range(0, len(picked), 2)]
        out.append(RawStory(id=f"{tag}-{i:06d}", body="\n\n".join(paragraphs),
                            headline=rng.choice(headlines[language]), language=language,
                            source=rng.choice(_AGENCIES)))
    return out


Corpus = Callable[[str, int], list[RawStory]]
CORPORA: dict[str, Corpus] = {"wire": wire_corpus, "samples": sample_corpus}


async def create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        await admin.close()


# ----------------------------------------------------------------------------- baseline


async def passthrough(bootstrap: str, src: str, dst: str, stop: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(src, bootstrap_servers=bootstrap, group_id=f"pt-{src}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100, max_records=500)
            futures = [await producer.send(dst, r.value, key=r.key)
                       for records in batch.values() for r in records]
            if futures:
                await asyncio.gather(*futures)
                await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


async def drain(bootstrap: str, topic: str, n: int, timeout: float,
                latency_of: object) -> tuple[list[float], float]:
    """Consume n messages from topic; (latencies, time of the last one)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    latencies: list[float] = []
    last = time.time()
    try:
        deadline = time.monotonic() + timeout
        while len(latencies) < n and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            now = time.time()
            for records in batch.values():
                for r in records:
                    latency = latency_of(r.value, now)  # type: ignore[operator]
                    if latency is not None:  # None: a message from before the measurement
                        latencies.append(latency)
                        last = now
    finally:
        await consumer.stop()
    return latencies, last


def raw_latency(value: bytes, now: float) -> float:
    return now - float(json.loads(value)["received_at"])


async def baseline(settings: Settings, n: int, rate: float,
                   corpus: Corpus) -> dict[str, float]:
    tag = uuid.uuid4().hex[:8]
    src, dst = f"bench-{tag}-in", f"bench-{tag}-out"
    await create_topics(settings.kafka_bootstrap, [src, dst], settings.topic_partitions)
    stop = asyncio.Event()
    task = asyncio.create_task(passthrough(settings.kafka_bootstrap, src, dst, stop))
    await asyncio.sleep(3)  # group join
    started = time.time()
    await publish_stories(settings, corpus(tag, n), topic=src)
    _, last = await drain(settings.kafka_bootstrap, dst, n, 120, raw_latency)
    throughput = n / max(1e-6, last - started)
    # latency at a fixed offered rate
    src2, dst2 = f"bench-{tag}-in2", f"bench-{tag}-out2"
    await create_topics(settings.kafka_bootstrap, [src2, dst2], settings.topic_partitions)
    stop2 = asyncio.Event()
    task2 = asyncio.create_task(passthrough(settings.kafka_bootstrap, src2, dst2, stop2))
    await asyncio.sleep(3)
    m = int(rate * 10)
    pub = asyncio.create_task(publish_stories(settings, corpus(tag + "r", m), rate=rate, topic=src2))
    lat, _ = await drain(settings.kafka_bootstrap, dst2, m, 60, raw_latency)
    await pub
    stop.set()
    stop2.set()
    await asyncio.gather(task, task2)
    return {"throughput": throughput, "p50": percentile(lat, 50), "p95": percentile(lat, 95),
            "p99": percentile(lat, 99), "n_latency": len(lat)}


# ----------------------------------------------------------------------------- wirewatch


def start_workers(env: dict[str, str], count: int, logdir: Path) -> list[subprocess.Popen[bytes]]:
    procs = []
    for i in range(count):
        wenv = {**env, "WIREWATCH_WEB_PORT": str(17000 + i + int(env["BENCH_PORT_BASE"])),
                "WIREWATCH_METRICS_PORT": str(17100 + i + int(env["BENCH_PORT_BASE"]))}
        log = (logdir / f"worker-{i}.log").open("ab")
        procs.append(subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], env=wenv,
                                      cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True))
    deadline = time.monotonic() + 120
    for i, _ in enumerate(procs):
        while "Ready" not in (logdir / f"worker-{i}.log").read_text(errors="replace"):
            if time.monotonic() > deadline:
                raise SystemExit(f"worker {i} not ready; see {logdir}")
            time.sleep(0.5)
    time.sleep(3)  # partitions assigned
    return procs


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def service_pids() -> dict[str, list[int]]:
    """The Kafka broker and Elasticsearch JVMs on this machine, by command line."""
    found: dict[str, list[int]] = {"kafka": [], "elasticsearch": []}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "java" not in cmdline:
            continue
        if "kafka.Kafka" in cmdline:
            found["kafka"].append(int(entry.name))
        elif "org.elasticsearch" in cmdline:
            found["elasticsearch"].append(int(entry.name))
    return found


def cpu_snapshot(groups: dict[str, list[int]]) -> dict[str, float]:
    return {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in groups.items()}


async def es_indexed(es: AsyncElasticsearch, index: str) -> int:
    """Documents searchable now (no forced refresh: forcing one per poll would cost ES more CPU
    than the documents themselves)."""
    try:
        return int((await es.count(index=index))["count"])
    except Exception:
        return 0


async def last_indexed_at(es: AsyncElasticsearch, index: str) -> float:
    await es.indices.refresh(index=index)
    found = await es.search(index=index, size=0, aggs={"last": {"max": {"field": "indexed_at"}}})
    return float(found["aggregations"]["last"]["value"]) / 1000.0  # epoch_second field -> ms


async def wirewatch(settings: Settings, n: int, rate: float, workers: int,
                    corpus: Corpus) -> dict[str, float]:
    tag = uuid.uuid4().hex[:8]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIREWATCH_")}
    env.update({
        "WIREWATCH_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "WIREWATCH_ES_URL": settings.es_url,
        "WIREWATCH_APP_ID": f"bench-{tag}", "WIREWATCH_TOPIC_RAW": f"bench-{tag}-raw",
        "WIREWATCH_TOPIC_TAGGED": f"bench-{tag}-tagged", "WIREWATCH_TOPIC_ALERTS": f"bench-{tag}-alerts",
        "WIREWATCH_TOPIC_DEADLETTER": f"bench-{tag}-dl", "WIREWATCH_STORIES_INDEX": f"bench-{tag}-stories",
        "WIREWATCH_ALERTS_INDEX": f"bench-{tag}-alerts", "BENCH_PORT_BASE": str(workers * 10),
        "WIREWATCH_STATE_DIR": tempfile.mkdtemp(prefix="ww-bench-"),
    })
    for key in ("WIREWATCH_TAG_PROCESSES",):  # worker knobs the caller may set
        if key in os.environ:
            env[key] = os.environ[key]
    s = Settings.from_env(env)
    logdir = Path(env["WIREWATCH_STATE_DIR"])
    await create_topics(s.kafka_bootstrap, [s.topic_raw, s.topic_tagged, s.topic_alerts],
                        s.topic_partitions)
    procs = start_workers(env, workers, logdir)
    es = AsyncElasticsearch(s.es_url)
    try:
        # 0. warm-up: the first seconds of a fresh worker (new changelog topics electing their
        # leaders, first fetches) are not its steady state, which is what latency is about.
        warm = int(rate * 5)
        await publish_stories(s, corpus(tag + "w", warm), rate=rate)
        while await es_indexed(es, s.stories_index) < warm:
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)
        # 1. latency at a fixed offered rate
        m = int(rate * 15)
        measured_from = time.time()

        def steady_latency(value: bytes, now: float) -> float | None:
            alert = Alert.loads(value)
            return now - alert.received_at if alert.received_at >= measured_from else None

        pub = asyncio.create_task(publish_stories(s, corpus(tag + "r", m), rate=rate))
        lat, _ = await drain(s.kafka_bootstrap, s.topic_alerts, 10**9, 15 + 10, steady_latency)
        await pub
        m += warm
        while await es_indexed(es, s.stories_index) < m:
            await asyncio.sleep(0.5)
        # 2. sustained throughput: n stories as fast as possible, until all are in Elasticsearch
        stories = corpus(tag, n)
        groups = {"worker": [p.pid for p in procs],
                  "tagging processes": [c for p in procs for c in children(p.pid)],
                  **service_pids()}
        cpu_before = cpu_snapshot(groups)
        started = time.time()
        await publish_stories(s, stories)
        deadline = time.monotonic() + 600
        while await es_indexed(es, s.stories_index) < m + n and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        cpu_after = cpu_snapshot(groups)
        finished = await last_indexed_at(es, s.stories_index)
        indexed = await es_indexed(es, s.stories_index) - m
        rss = max(peak_rss_mb(p.pid) + sum(peak_rss_mb(c) for c in children(p.pid))
                  for p in procs)
    finally:
        await es.close()
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
    figures = {"throughput": indexed / max(1e-6, finished - started), "indexed": indexed,
               "p50": percentile(lat, 50), "p95": percentile(lat, 95), "p99": percentile(lat, 99),
               "n_latency": len(lat), "rss_mb": rss}
    for name in groups:
        figures[f"cpu_ms:{name}"] = 1000 * (cpu_after[name] - cpu_before[name]) / max(1, indexed)
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5000, help="stories for the throughput run")
    parser.add_argument("--rate", type=float, default=100.0, help="offered rate for latency")
    parser.add_argument("--workers", type=int, default=1, help="wirewatch workers in the group")
    parser.add_argument("--corpus", choices=sorted(CORPORA), default="wire",
                        help="distinct wire stories (default) or the samples repeated")
    args = parser.parse_args()
    settings = Settings.from_env()
    corpus = CORPORA[args.corpus]
    base = await baseline(settings, args.n, args.rate, corpus)
    ww = await wirewatch(settings, args.n, args.rate, args.workers, corpus)
    print(f"pipeline benchmark: {args.n} stories ({args.corpus} corpus), latency at "
          f"{args.rate:.0f} stories/s, {args.workers} worker(s), {os.cpu_count()} cores shared "
          "with Kafka and Elasticsearch")
    print(f"{'':28}{'wirewatch':>12}{'baseline':>12}{'ratio':>8}")
    print(f"{'throughput (stories/s)':28}{ww['throughput']:>12.0f}{base['throughput']:>12.0f}"
          f"{ww['throughput'] / base['throughput']:>8.2f}")
    for q in ("p50", "p95", "p99"):
        print(f"{'latency ' + q + ' (s)':28}{ww[q]:>12.3f}{base[q]:>12.3f}"
              f"{ww[q] / max(base[q], 1e-9):>8.1f}")
    print(f"{'latency samples':28}{ww['n_latency']:>12.0f}{base['n_latency']:>12.0f}")
    print(f"{'worker peak RSS (MB)':28}{ww['rss_mb']:>12.0f}")
    print("CPU per story during the throughput run (ms):")
    total = 0.0
    for key, value in ww.items():
        if key.startswith("cpu_ms:"):
            total += value
            print(f"  {key[7:]:26}{value:>12.2f}")
    cores = os.cpu_count() or 1
    print(f"  {'all of the above':26}{total:>12.2f}   -> at most {1000 * cores / max(total, 1e-9):.0f} "
          f"stories/s on {cores} cores")
    print("wirewatch latency is publish -> alert on the alerts topic (tag, cluster, rules); "
          "baseline latency is publish -> passthrough output")


if __name__ == "__main__":
    asyncio.run(main())
