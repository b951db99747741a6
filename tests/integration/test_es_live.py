"""Index setup on the real Elasticsearch: a mapping change rolls the alias over, data stays."""

from __future__ import annotations

import json
from typing import Any

from elasticsearch import AsyncElasticsearch

from streams.es import BulkIndexer, load_template, story_document
from tests.integration.test_dashboards_live import drop_indices
from tests.unit.test_es_documents import tagged


async def test_older_mapping_is_rolled_over_and_new_documents_are_accepted(
    es: AsyncElasticsearch, uid: str
) -> None:
    alias = f"t-{uid}-stories"
    try:
        # An index made by an older version: strict mapping without violence_terms, no version.
        old = load_template("stories")["template"]
        del old["mappings"]["properties"]["violence_terms"]
        await es.indices.create(index=f"{alias}-000001", settings=old["settings"],
                                mappings=old["mappings"],
                                aliases={alias: {"is_write_index": True}})
        await es.index(index=alias, id="old-story", document={"id": "old-story", "body": "x"},
                       refresh=True)

        indexer = BulkIndexer(es, alias, "stories")
        await indexer.setup()
        aliases = await es.indices.get_alias(name=alias)
        assert sorted(aliases) == [f"{alias}-000001", f"{alias}-000002"]
        assert aliases[f"{alias}-000002"]["aliases"][alias]["is_write_index"] is True
        mapping = (await es.indices.get_mapping(index=f"{alias}-000002"))[f"{alias}-000002"]
        assert mapping["mappings"]["_meta"]["schema_version"] >= 2
        assert "violence_terms" in mapping["mappings"]["properties"]

        doc: dict[str, Any] = story_document(json.loads(tagged().dumps()))
        assert await indexer.write([(doc["id"], doc)]) == []
        await es.indices.refresh(index=alias)
        ids = {hit["_id"] for hit in (await es.search(index=alias, size=10))["hits"]["hits"]}
        assert ids == {"old-story", doc["id"]}  # searches through the alias see both

        await indexer.setup()  # up to date: no further rollover
        assert len(await es.indices.get_alias(name=alias)) == 2
    finally:
        await drop_indices(es, [alias])


async def test_first_setup_creates_a_versioned_write_index(es: AsyncElasticsearch, uid: str) -> None:
    alias = f"t-{uid}-alerts"
    try:
        await BulkIndexer(es, alias, "alerts").setup()
        aliases = await es.indices.get_alias(name=alias)
        assert list(aliases) == [f"{alias}-000001"]
        mapping = (await es.indices.get_mapping(index=f"{alias}-000001"))[f"{alias}-000001"]
        assert mapping["mappings"]["_meta"]["schema_version"] == \
            load_template("alerts")["_meta"]["schema_version"]
    finally:
        await drop_indices(es, [alias])
