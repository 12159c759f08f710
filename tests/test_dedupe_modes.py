"""The dedupe stage's optional modes and edge cases: exact verification, containment, large buckets,
documents without key text, config checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_dedupe_stage import _base_text, _doc, _edit, _vocab, run_stage

from transforms.config_base import ConfigError
from transforms.dedupe.config import BoilerplateConfig, DedupeConfig
from transforms.dedupe.keytext import key_text, make_converter

#: Connected-components rounds for these small graphs (the default 16 is tested elsewhere).
ROUNDS = 6


@pytest.fixture(scope="module")
def texts():
    rng = np.random.default_rng(23)
    words = _vocab(rng)
    return rng, [_base_text(rng, words, 6000) for _ in range(4)]


def _clusters(kept, dups):
    out = {}
    for line in kept + dups:
        d = json.loads(line)
        out[d["source"]] = d["cluster_id"]
    return out


def _stats(lines):
    totals = {}
    for name, n in map(json.loads, lines):
        totals[name] = totals.get(name, 0) + n
    return totals


def _jaccard(a: str, b: str) -> float:
    conv = make_converter()
    ka, kb = key_text(a, conv), key_text(b, conv)
    sa, sb = ({k[i : i + 5] for i in range(len(k) - 4)} for k in (ka, kb))
    return len(sa & sb) / len(sa | sb)


def test_exact_verification_decides_the_pairs_it_checks(texts):
    rng, (a, b, _, _) = texts
    far = [_edit(rng, a, 0.04) for _ in range(4)]  # Jaccard ~0.6-0.7 with a and with each other
    assert all(_jaccard(a, f) < 0.8 for f in far)
    docs = [_doc(a, "a"), _doc(_edit(rng, a, 0.002), "a-near"), _doc(b, "b")]
    docs += [_doc(f, f"far{i}") for i, f in enumerate(far)]
    # A slack of 0.35 sends every candidate with an estimate >= 0.45 to the exact check; short
    # bands (fp weight 0.02) make the far variants candidates.
    cfg = DedupeConfig(
        verify_exact_jaccard=True,
        exact_verify_slack=0.35,
        false_positive_weight=0.02,
        false_negative_weight=0.98,
        max_cc_rounds=ROUNDS,
    )
    kept, dups, stats = run_stage(docs, cfg)
    clusters = _clusters(kept, dups)
    assert clusters["a"] == clusters["a-near"]
    assert len({clusters[k] for k in ("a", "b", "far0", "far1", "far2", "far3")}) == 6
    totals = _stats(stats)
    assert totals["dedupe.exact_check_rejected"] >= 1
    assert totals["dedupe.near_edges"] == 1


def test_containment_mode_merges_an_excerpt_into_the_full_book(texts):
    _, (a, b, _, _) = texts
    excerpt = a[: len(a) * 2 // 5]  # the first 40%: Jaccard ~0.4, containment 1.0
    docs = [_doc(a, "full"), _doc(excerpt, "excerpt"), _doc(b, "other")]
    plain = _clusters(*run_stage(docs, DedupeConfig(containment=False, max_cc_rounds=ROUNDS))[:2])
    assert plain["full"] != plain["excerpt"]
    kept, dups, stats = run_stage(docs, DedupeConfig(max_cc_rounds=ROUNDS))  # containment is on by default
    merged = _clusters(kept, dups)
    assert merged["full"] == merged["excerpt"] != merged["other"]
    [row] = [json.loads(x) for x in dups]
    assert row["source"] == "excerpt" and row["kind"] == "contained"  # the longer one is kept
    assert row["kept_doc_id"] == _doc(a, "full")["doc_id"]
    assert row["containment"] == 1.0  # checked on the exact shingle sets: every shingle of a prefix is in the book
    assert 0.25 < row["similarity"] < 0.6  # the reported similarity is still the Jaccard estimate
    assert _stats(stats)["dedupe.contained_removed"] == 1


def test_containment_needs_the_exact_sets_to_agree(texts):
    """A pair whose signature estimate passes by containment but whose exact sets do not is rejected:
    a prefix with every other sentence rewritten (containment ~0.5 < 0.6)."""
    rng, (a, b, _, _) = texts
    prefix = a[: len(a) // 3]
    sentences = prefix.split("。")
    mixed = "。".join(s if i % 2 else _edit(rng, s, 0.5) for i, s in enumerate(sentences))
    docs = [_doc(a, "full"), _doc(mixed, "half-rewritten")]
    kept, dups, stats = run_stage(docs, DedupeConfig(containment_verify_slack=0.5, max_cc_rounds=ROUNDS))
    assert dups == [] and len(kept) == 2
    assert _stats(stats)["dedupe.exact_check_rejected"] == 1  # the estimate let it through, the sets did not


def test_equal_size_editions_are_judged_by_jaccard_not_containment(texts):
    rng, (a, _, _, _) = texts
    far = _edit(rng, a, 0.06)  # a whole second edition, 6% edited: Jaccard ~0.6, containment ~0.75
    kept, dups, _ = run_stage([_doc(a, "a"), _doc(far, "far")], DedupeConfig(max_cc_rounds=ROUNDS))
    assert dups == [] and len(kept) == 2


def test_large_buckets_fall_back_to_a_star_and_are_counted(texts):
    rng, (a, _, _, _) = texts
    docs = [_doc(_edit(rng, a, 0.001), f"v{i}") for i in range(6)]
    kept, dups, stats = run_stage(docs, DedupeConfig(max_bucket_size=3, max_cc_rounds=ROUNDS))
    assert len(set(_clusters(kept, dups).values())) == 1
    assert _stats(stats)["dedupe.large_buckets"] > 0


def test_documents_without_key_text_are_kept_and_counted(texts):
    _, (a, _, _, _) = texts
    docs = [_doc("……！！？？\n——", "punct-only"), _doc("。。。", "dots"), _doc(a, "book")]
    kept, dups, stats = run_stage(docs, DedupeConfig(max_cc_rounds=ROUNDS), BoilerplateConfig(enabled=False))
    assert len(kept) == 3 and dups == []
    assert _stats(stats)["dedupe.near_skipped_empty"] == 2


def test_exact_only_and_near_only_configurations(texts):
    rng, (a, b, _, _) = texts
    docs = [_doc(a, "a"), _doc(a.replace("\n", "\n\n"), "a-spaced"), _doc(_edit(rng, a, 0.002), "a-near")]
    docs.append(_doc(b, "b"))
    exact_only = _clusters(*run_stage(docs, DedupeConfig(near=False, max_cc_rounds=ROUNDS))[:2])
    assert exact_only["a"] == exact_only["a-spaced"] != exact_only["a-near"]
    kept, dups, _ = run_stage(docs, DedupeConfig(exact=False, max_cc_rounds=ROUNDS))
    near_only = _clusters(kept, dups)
    assert near_only["a"] == near_only["a-spaced"] == near_only["a-near"] != near_only["b"]
    rows = {json.loads(x)["source"]: json.loads(x) for x in dups}
    twins = {docs[0]["doc_id"], docs[1]["doc_id"]}  # same normalized text
    for source in ("a", "a-spaced"):
        if source in rows:  # removed: "exact" exactly when the kept document is its twin
            assert (rows[source]["kind"] == "exact") == (rows[source]["kept_doc_id"] in twins)


@pytest.mark.parametrize(
    "changes,key",
    [
        ({"threshold": 1.0}, "dedupe.threshold"),
        ({"num_perm": 4}, "dedupe.num_perm"),
        ({"false_positive_weight": 0.7}, "dedupe.false_negative_weight"),
        ({"max_cc_rounds": 0}, "dedupe.max_cc_rounds"),
        ({"ngram": 0}, "dedupe.ngram"),
    ],
)
def test_dedupe_config_range_checks(changes, key):
    with pytest.raises(ConfigError) as err:
        DedupeConfig(**changes).validate()
    assert err.value.key == key


def test_boilerplate_config_range_checks_and_defaults_validate():
    DedupeConfig().validate()
    BoilerplateConfig().validate()
    with pytest.raises(ConfigError) as err:
        BoilerplateConfig(min_docs=1).validate()
    assert err.value.key == "boilerplate.min_docs"
