"""Distributed connected components (large-star / small-star) against a union-find reference."""

import glob
import json
import random
import shutil
import tempfile

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from transforms.dedupe.components import ConnectedComponents, star_contraction, union_find_components


def _ids(n, seed):
    labels = [f"{i:032x}" for i in random.Random(seed).sample(range(10**9), n)]
    return labels


def _read(prefix):
    return [tuple(json.loads(line)) for path in glob.glob(prefix + "*") for line in open(path, encoding="utf-8")]


def _run(edges, max_rounds=12, workers=1, tmp="/tmp"):
    opts = PipelineOptions(flags=[], direct_num_workers=workers, direct_running_mode="multi_threading")
    out = tempfile.mkdtemp(dir=tmp)
    with beam.Pipeline(runner="FnApiRunner", options=opts) as p:
        roots, st = p | beam.Create(edges) | ConnectedComponents(max_rounds)
        roots | "r" >> beam.Map(json.dumps) | "wr" >> beam.io.WriteToText(out + "/roots")
        st | "s" >> beam.Map(json.dumps) | "ws" >> beam.io.WriteToText(out + "/stats")
    roots, stats = dict(_read(out + "/roots")), _read(out + "/stats")
    shutil.rmtree(out)
    return roots, stats


def _chain(n, seed):
    ids = _ids(n, seed)
    return [(ids[i], ids[i + 1]) for i in range(n - 1)]


def test_long_chain_is_one_component_labelled_by_its_smallest_node():
    edges = _chain(300, 1)  # A~B~C~...: the ends share nothing but the path
    roots, stats = _run(edges)
    nodes = {u for e in edges for u in e}
    assert set(roots) == nodes
    assert set(roots.values()) == {min(nodes)}
    assert sum(v for k, v in stats if k == "dedupe.cc_nodes") == len(nodes)
    assert not [k for k, _ in stats if k == "dedupe.cc_unconverged_nodes"]


def test_random_graph_matches_union_find():
    rng = random.Random(5)
    ids = _ids(400, 2)
    edges = [(rng.choice(ids), rng.choice(ids)) for _ in range(300)]
    edges += _chain(50, 3)  # plus a long chain component
    roots, _ = _run(edges)
    ref = union_find_components([e for e in edges if e[0] != e[1]])
    assert roots == ref
    assert len(set(ref.values())) > 10  # several components, not one blob


def test_result_does_not_depend_on_worker_count_or_input_order():
    rng = random.Random(9)
    ids = _ids(200, 4)
    edges = [(rng.choice(ids), rng.choice(ids)) for _ in range(150)] + _chain(40, 6)
    shuffled = edges[:]
    random.Random(1).shuffle(shuffled)
    flipped = [(v, u) for u, v in shuffled]
    one, _ = _run(edges, workers=1)
    two, _ = _run(shuffled, workers=2)
    three, _ = _run(flipped, workers=2)
    assert one == two == three


@pytest.mark.parametrize("rounds", [1, 2])
def test_too_few_rounds_are_finished_exactly_by_the_bounded_fallback(rounds):
    chain = [(f"{i:04d}", f"{i + 1:04d}") for i in range(200)]
    reversed_chain = [(f"{i + 1:04d}", f"{i:04d}") for i in range(300, 400)]
    star = [("9000", f"{i}") for i in range(9001, 9010)]  # converges at once: no fallback needed
    edges = chain + reversed_chain + star
    roots, ok = star_contraction(edges, rounds)
    assert not ok
    got, stats = _run(edges, max_rounds=rounds)
    assert got == union_find_components(edges)
    names = [name for name, _ in stats]
    assert "dedupe.cc_unconverged_nodes" in names and "dedupe.cc_fallback_edges" in names
    # a graph that converges within the rounds sends nothing to the fallback's one worker
    got, stats = _run(star, max_rounds=rounds)
    assert got == union_find_components(star)
    assert "dedupe.cc_fallback_edges" not in [name for name, _ in stats]


def test_resolve_roots_from_tentative_roots_and_failing_nodes():
    from transforms.dedupe.components import resolve_roots

    # after some rounds: a leaf "e" hangs on root "b", which still links to an unconverged "c" -> "a"
    remaining = [("b", "e"), ("b", "c"), ("a", "c"), ("x", "y")]
    tentative = {"a": "a", "b": "b", "c": "a", "e": "b", "x": "x", "y": "x"}
    roots = resolve_roots(tentative, {"c"}, remaining)
    assert roots == {"a": "a", "b": "a", "c": "a", "e": "a", "x": "x", "y": "x"}


@pytest.mark.parametrize("seed", range(5))
def test_in_memory_star_contraction_matches_union_find(seed):
    rng = random.Random(seed)
    nodes = list(range(300))
    edges = [(rng.choice(nodes), rng.choice(nodes)) for _ in range(250)]
    edges += [(i, i + 1) for i in range(1000, 1500)]  # sorted chain: the slow case
    roots, ok = star_contraction(edges, 16)
    assert ok
    assert roots == union_find_components([e for e in edges if e[0] != e[1]])
