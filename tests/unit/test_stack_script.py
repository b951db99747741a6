"""Pure helpers of deploy/local/stack (the script is loaded as a module, nothing is started)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from types import ModuleType

from tests.conftest import REPO


def load_stack() -> ModuleType:
    path = REPO / "deploy" / "local" / "stack"
    loader = importlib.machinery.SourceFileLoader("wirewatch_local_stack", str(path))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[loader.name] = module  # dataclasses look their module up while being defined
    loader.exec_module(module)
    return module


def test_kafka_cluster_ids_never_start_with_a_dash() -> None:
    """The storage tool reads an id starting with "-" as an option and fails the first start;
    one random id in 64 would."""
    stack = load_stack()
    ids = [stack.kafka_cluster_id() for _ in range(5000)]
    assert not [i for i in ids if i.startswith("-")]
    assert {len(i) for i in ids} == {22}
    assert len(set(ids)) == len(ids)
    assert any("-" in i for i in ids)  # a dash elsewhere is fine
