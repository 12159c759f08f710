from pipelines.corpus.sample import generate


def test_generation_is_deterministic_and_seeded():
    a_files, a_truth = generate(docs=10, seed=1)
    b_files, b_truth = generate(docs=10, seed=1)
    c_files, _ = generate(docs=10, seed=2)
    assert a_files == b_files and a_truth.to_json() == b_truth.to_json()
    assert a_files["novel000.txt"] != c_files["novel000.txt"]


def test_planted_similarities_sit_on_the_intended_sides_of_the_threshold():
    _, truth = generate(docs=20, seed=3)
    assert truth.near_pairs and truth.far_pairs
    assert all(j >= 0.85 for _, _, j in truth.near_pairs)
    assert all(j <= 0.6 for _, _, j in truth.far_pairs)


def test_every_dirty_input_kind_is_present():
    files, truth = generate(docs=10, seed=1)
    assert files["empty.txt"] == b""
    assert b"\x00" in files["binary.txt"]
    assert files["utf16-novel.txt"][:2] == b"\xff\xfe"
    assert files["bom-novel.txt"][:3] == b"\xef\xbb\xbf"
    assert b"\r\n" in files["big5-novel.txt"]
    assert set(truth.bad_inputs.values()) == {"empty", "binary", "truncated_gzip", "malformed_json", "text_not_string"}
