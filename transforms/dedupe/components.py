"""Connected components over an edge list, as a distributed algorithm (no single-worker step).

The Beam transform alternates the *large-star* and *small-star* operations of Kiveris et al.,
"Connected Components in MapReduce and Beyond" (SoCC 2014). Each operation is one GroupByKey over
the edges keyed by node; neither needs a node's whole component in memory (only its neighbours),
and together they preserve connectivity and shrink every component to a star centred on its
smallest node. The graph is unrolled for ``max_rounds`` rounds (rounds after convergence leave the
edges unchanged and cost one small shuffle each); a final check finds the nodes that are not yet in
a star. For those rare long chains a bounded fallback finishes the job instead of failing it: only
the remaining edges that touch an unconverged node go to one worker, whose union-find gives every
node of those components its smallest node (:func:`resolve_roots` states why that suffices).

Nodes are any totally ordered, deterministically encodable values (here doc_id strings); the label
of a component (its *root*) is its smallest node, independent of input order or worker count.

The pure step functions are shared with :func:`star_contraction`, an in-memory run of the same
algorithm, and :func:`union_find_components` is an independent reference for tests.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Iterator

import apache_beam as beam

from transforms.stats import STATS, stat


def large_star(node, neighbours: Iterable) -> Iterator[tuple]:
    """Large-star at `node`: link every *larger* neighbour to the smallest of node ∪ neighbours."""
    nbrs = set(neighbours)
    nbrs.discard(node)
    if not nbrs:
        return
    m = min(min(nbrs), node)
    for v in nbrs:
        if v > node:
            yield (v, m)


def small_star(node, smaller: Iterable) -> Iterator[tuple]:
    """Small-star at `node` given its *smaller* neighbours: link them and node to their minimum."""
    nbrs = set(smaller)
    nbrs.discard(node)
    if not nbrs:
        return
    m = min(nbrs)
    for v in nbrs:
        if v != m:
            yield (v, m)
    yield (node, m)


def star_check(node, tagged: Iterable[tuple[str, object]]) -> tuple[object, bool]:
    """(root of `node`, converged?) from its tagged neighbours ("s", smaller) / ("l", larger).

    In a converged star forest a node has either no smaller neighbour (it is a root, maps to itself)
    or exactly one smaller neighbour and no larger one (a leaf, maps to that root).
    """
    smaller = {v for tag, v in tagged if tag == "s"}
    has_larger = any(tag == "l" for tag, _ in tagged)
    if not smaller:
        return node, True
    return min(smaller), len(smaller) == 1 and not has_larger


def star_contraction(edges: Iterable[tuple], max_rounds: int) -> tuple[dict, bool]:
    """In-memory run of the same algorithm: ({node: root}, converged?) after `max_rounds` rounds."""
    current = [(u, v) for u, v in edges if u != v]
    for _ in range(max_rounds):
        adj = defaultdict(set)
        for u, v in current:
            adj[u].add(v)
            adj[v].add(u)
        current = [e for u in sorted(adj) for e in large_star(u, adj[u])]
        smaller = defaultdict(set)
        for u, v in current:
            hi, lo = (u, v) if u > v else (v, u)
            smaller[hi].add(lo)
        current = [e for u in sorted(smaller) for e in small_star(u, smaller[u])]
    tagged = defaultdict(list)
    for u, v in current:
        hi, lo = (u, v) if u > v else (v, u)
        tagged[hi].append(("s", lo))
        tagged[lo].append(("l", hi))
    roots, ok = {}, True
    for node in sorted(tagged):
        roots[node], good = star_check(node, tagged[node])
        ok = ok and good
    return roots, ok


def union_find_components(edges: Iterable[tuple]) -> dict:
    """Reference: {node: smallest node of its component} for every node in `edges` (union-find)."""
    parent: dict = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for u, v in edges:
        ru, rv = find(u), find(v)
        if ru != rv:
            lo, hi = (ru, rv) if ru < rv else (rv, ru)
            parent[hi] = lo
    return {x: find(x) for x in list(parent)}


def resolve_roots(tentative: dict, failing: set, remaining_edges: Iterable[tuple]) -> dict:
    """Exact {node: root} from the star check's tentative roots and the unconverged nodes.

    `remaining_edges` are the edges after the rounds. A node that passes the check is a root (no
    smaller neighbour) or a leaf (one edge, to its smaller neighbour). In a component with unconverged
    nodes every non-leaf node reaches the others through edges that touch an unconverged node, and the
    component's smallest node is a non-leaf; so union-find over just those edges labels every non-leaf
    node with the component minimum, and a leaf takes its parent's label.
    """
    suspect = [(u, v) for u, v in remaining_edges if u in failing or v in failing]
    fixed = union_find_components(suspect)
    return {n: fixed.get(n, fixed.get(t, t)) for n, t in tentative.items()}


class _UnionFind(beam.CombineFn):
    """Edges -> {node: smallest node of its component}: the fallback, over unconverged edges only."""

    def create_accumulator(self):
        return []

    def add_input(self, acc, edge):
        acc.append(tuple(edge))
        return acc

    def merge_accumulators(self, accs):
        return [e for acc in accs for e in acc]

    def extract_output(self, acc):
        return union_find_components(sorted(acc))


def _both_directions(edge):
    u, v = edge
    if u != v:
        yield (u, v)
        yield (v, u)


def _by_larger(edge):
    u, v = edge
    if u != v:
        yield (u, v) if u > v else (v, u)


def _tag_for_check(edge):
    u, v = edge
    if u != v:
        hi, lo = (u, v) if u > v else (v, u)
        yield (hi, ("s", lo))
        yield (lo, ("l", hi))


FAILING = "failing"


class _CheckStars(beam.DoFn):
    """(node, tagged neighbours) -> (node, tentative root); unconverged nodes also go to FAILING."""

    def __init__(self, stat_prefix: str):
        self.stat_prefix = stat_prefix

    def process(self, element):
        node, tagged = element
        root, ok = star_check(node, list(tagged))
        yield stat(f"{self.stat_prefix}.cc_nodes")
        if not ok:
            yield stat(f"{self.stat_prefix}.cc_unconverged_nodes")
            yield beam.pvalue.TaggedOutput(FAILING, (node, True))
        yield (node, root)


def _suspect_edges(element):
    _, grouped = element
    if list(grouped["failing"]):
        yield from grouped["edge"]


def _final_root(node_root, fixed):
    node, root = node_root
    return node, fixed.get(node, fixed.get(root, root))


class ConnectedComponents(beam.PTransform):
    """PCollection[(u, v)] edges -> (PCollection[(node, root)] for every node of an edge, stats).

    `max_rounds` large-star + small-star rounds are unrolled into the graph; a final star check
    emits ``<prefix>.cc_nodes``; components that have not contracted to a star yet (counted as
    ``<prefix>.cc_unconverged_nodes``, ``<prefix>.cc_fallback_edges``) are finished by the bounded
    union-find fallback of :func:`resolve_roots`, so the result is exact whatever the round budget.
    """

    def __init__(self, max_rounds: int, stat_prefix: str = "dedupe"):
        super().__init__()
        self.max_rounds = max_rounds
        self.stat_prefix = stat_prefix

    def expand(self, edges):
        for i in range(self.max_rounds):
            edges = (
                edges
                | f"LargeStarEmit{i}" >> beam.FlatMap(_both_directions)
                | f"LargeStarGroup{i}" >> beam.GroupByKey()
                | f"LargeStar{i}" >> beam.FlatMapTuple(large_star)
                | f"SmallStarEmit{i}" >> beam.FlatMap(_by_larger)
                | f"SmallStarGroup{i}" >> beam.GroupByKey()
                | f"SmallStar{i}" >> beam.FlatMapTuple(small_star)
            )
        checked = (
            edges
            | "CheckEmit" >> beam.FlatMap(_tag_for_check)
            | "CheckGroup" >> beam.GroupByKey()
            | "CheckStars" >> beam.ParDo(_CheckStars(self.stat_prefix)).with_outputs(STATS, FAILING, main="roots")
        )
        by_node = edges | "EdgeByNode" >> beam.FlatMap(lambda e: [(e[0], e), (e[1], e)] if e[0] != e[1] else [])
        suspect = (
            {"edge": by_node, "failing": checked[FAILING]}
            | "JoinFailing" >> beam.CoGroupByKey()
            | "SuspectEdges" >> beam.FlatMap(_suspect_edges)
        )
        fixed = suspect | "UnionFindFallback" >> beam.CombineGlobally(_UnionFind())
        prefix = self.stat_prefix
        fallback_stats = suspect | "CountFallback" >> beam.Map(lambda _: stat(f"{prefix}.cc_fallback_edges").value)
        roots = checked.roots | "FinalRoot" >> beam.Map(_final_root, beam.pvalue.AsSingleton(fixed))
        stats = (checked[STATS], fallback_stats) | "CCStats" >> beam.Flatten()
        return roots, stats
