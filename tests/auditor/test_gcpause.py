"""The collector paused around work that makes no reference cycles (auditor._gcpause)."""

from __future__ import annotations

import gc
import random
from collections.abc import Iterator
from typing import Any

import pytest

from auditor._gcpause import gc_paused
from auditor._policy.catalog import Catalog
from auditor._scan import EvaluateOptions, evaluate_bundle
from auditor.errors import ConfigError
from auditor.evidence.bundle import Bundle
from tests.auditor._policy.test_batch import _altered_records
from tests.certs import NOW


@pytest.fixture
def collecting() -> Iterator[None]:
    """The collector on, as it was, whatever the test did."""
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


@pytest.mark.usefixtures("collecting")
def test_the_collector_is_on_again_after_the_block_however_it_ends() -> None:
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(KeyError), gc_paused():
        raise KeyError("x")
    assert gc.isenabled()


@pytest.mark.usefixtures("collecting")
def test_a_collector_off_before_stays_off() -> None:
    gc.disable()
    with gc_paused():
        pass
    assert not gc.isenabled()


@pytest.fixture(scope="module")
def demo_bundle() -> Any:
    from auditor._demo import DEMO_TARGET, demo_inventory
    from auditor._scan import collect

    return collect(demo_inventory().target(DEMO_TARGET), now=NOW)


@pytest.mark.usefixtures("collecting")
@pytest.mark.parametrize("seed", [None, 1, 2])
def test_an_evaluation_leaves_no_cyclic_garbage(demo_bundle: Any, seed: int | None) -> None:
    """evaluate_bundle pauses the collector: what it makes (its result included, with its
    verdict) must be freed by reference counts alone, on the demo's evidence and on altered
    copies of it."""
    bundle = demo_bundle
    if seed is not None:
        bundle = Bundle.create(dict(demo_bundle.target), "2026-11-23T00:00:00Z",
                               _altered_records(demo_bundle, random.Random(seed), 2, shuffled=True))
    catalog = Catalog.load()
    options = EvaluateOptions(now=NOW, policies=["cim-production", "cim-staging", "pss-baseline", "pss-restricted"])
    evaluate_bundle(bundle, options, catalog=catalog)  # caches filled
    gc.collect()
    gc.disable()
    result = evaluate_bundle(bundle, options, catalog=catalog)
    assert not gc.isenabled()  # it was off before: off after
    assert result.verdict.headline() and result.summary.total
    del result
    assert gc.collect() == 0


@pytest.mark.usefixtures("collecting")
def test_reading_a_bundle_pauses_the_collector_and_leaves_no_cyclic_garbage(
        demo_bundle: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """read_bundle pauses the collector while it decodes and checks a bundle, parse_bundle while it
    checks one decoded elsewhere (their values hold no cycles: freed by reference counts alone),
    and each puts it back as it was, however it ends."""
    from auditor._loader import jsonfile
    from auditor.errors import EvidenceError
    from auditor.evidence import bundle as module

    path = tmp_path / "bundle.json"
    demo_bundle.write(path)
    seen: list[bool] = []
    parse = module._parse_bundle
    load = jsonfile.load_json

    def parse_seen(raw: Any, *, file: str) -> Bundle:
        seen.append(gc.isenabled())
        return parse(raw, file=file)

    def load_seen(data: bytes, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return load(data, **kwargs)

    monkeypatch.setattr(module, "_parse_bundle", parse_seen)
    monkeypatch.setattr(module, "load_json", load_seen)
    read = module.read_bundle(path)
    assert seen == [False, False] and gc.isenabled()
    assert read.digest == demo_bundle.digest
    again = module.parse_bundle(demo_bundle.to_dict(), file="sent.json")  # decoded elsewhere (a fleet worker's)
    assert seen == [False, False, False] and gc.isenabled() and again.digest == demo_bundle.digest
    del read
    gc.collect()
    gc.disable()
    read = module.read_bundle(path)
    assert not gc.isenabled() and len(read.records) == len(demo_bundle.records)
    del read
    assert gc.collect() == 0
    gc.enable()
    path.write_text(path.read_text().replace('"kinds"', '"kinds_"', 1))
    with pytest.raises(EvidenceError):
        module.read_bundle(path)
    assert gc.isenabled()


@pytest.mark.usefixtures("collecting")
def test_one_shot_turns_the_collector_off_and_on_again() -> None:
    from auditor._gcpause import one_shot

    with one_shot():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_objects_alive_are_frozen_for_the_block_and_unfrozen_after_however_it_ends() -> None:
    from auditor._gcpause import frozen_alive

    assert gc.get_freeze_count() == 0
    alive = [[i] for i in range(100)]
    with frozen_alive():
        assert gc.get_freeze_count() >= len(alive)
    assert gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError), frozen_alive():
        raise RuntimeError
    assert gc.get_freeze_count() == 0
    gc.freeze()  # frozen before: left so (which were frozen before cannot be told apart)
    try:
        before = gc.get_freeze_count()
        with frozen_alive():
            pass
        assert gc.get_freeze_count() >= before > 0
    finally:
        gc.unfreeze()


YAML_TEXTS = [
    "a: 1\nb: [x, y, {c: d}]\n",
    "---\nkind: Pod\nmetadata: {name: p}\n---\nkind: Service\nspec: {ports: [{port: 80}]}\n",
    "a: &s {k: [1]}\nb: *s\n",
    "when: 2026-11-23\nn: 1.5\nt: true\n",
]


@pytest.mark.usefixtures("collecting")
@pytest.mark.parametrize("text", YAML_TEXTS)
def test_loading_yaml_leaves_no_cyclic_garbage(text: str) -> None:
    """The YAML loader's documents (and the loader) are freed by reference counts alone: a
    one-shot scan of thousands of manifests never collects cycles (auditor._gcpause.one_shot)."""
    from auditor._loader.yamlfile import Document, load_yaml_documents

    gc.collect()
    gc.disable()
    docs = list(load_yaml_documents("t.yaml", text=text))
    assert docs and all(isinstance(d, Document) for d in docs)
    del docs
    assert gc.collect() == 0


@pytest.mark.usefixtures("collecting")
@pytest.mark.parametrize("text", ["---\na: &x [*x]\n", "---\nkind: Pod\nspec: &s {c: [{s: *s}]}\n---\nb: &y {k: *y}\n",
                                  "---\na: &x [1, {b: *x}]\nc: *x\n"])
def test_recursive_anchors_leave_no_cyclic_garbage(text: str) -> None:
    """A recursive anchor makes the document's node graph a cycle (the document is refused as
    nested too deep): hostile manifests made of them must not pile up, in a one-shot scan
    with the collector off, tens of times their size until the process ends."""
    from auditor._loader.yamlfile import load_yaml_documents

    gc.collect()
    gc.disable()
    found = list(load_yaml_documents("t.yaml", text=text * 20))
    assert found and all(isinstance(d, ConfigError) for d in found)
    del found
    assert gc.collect() == 0


@pytest.mark.usefixtures("collecting")
def test_collecting_manifests_leaves_no_cyclic_garbage(tmp_path: Any) -> None:
    from tests.k8s import collect, write_docs

    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "apps"},
           "spec": {"containers": [{"name": "app", "image": "nginx", "securityContext": {"privileged": True}}]}}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                  "spec": {"template": {"spec": pod["spec"]}}}
    write_docs(tmp_path / "m.yaml", [pod, deployment, {"kind": "Broken"}])
    collect(tmp_path, ["m.yaml"])  # modules imported, caches filled
    gc.collect()
    gc.disable()
    records = collect(tmp_path, ["m.yaml"])
    assert len(records) >= 3
    del records
    assert gc.collect() == 0
