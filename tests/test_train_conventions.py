"""LongLM's conventions (decoder start id 1, continuation marked by <extra_id_1>) flow from the corpus
manifest through the trainer into the export, and transformers scores the export exactly as we do."""

import json

import pyarrow.parquet as pq
import pytest
import torch

pytest.importorskip("transformers")
from transformers import T5ForConditionalGeneration, T5Tokenizer  # noqa: E402

from train.corpus import open_corpus  # noqa: E402
from train.synthetic import make_corpus  # noqa: E402
from train.trainer import TrainConfig, run  # noqa: E402


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("conv")
    corpus = make_corpus(root / "corpus", n_train_lines=300, n_val_lines=30, seed=6)
    cfg = TrainConfig(data=str(corpus), out=str(root / "run"), model="tiny", steps=80, batch_size=8, lr=1e-2,
                      threads=1, num_workers=0, eval_every=80, eval_batches=0, save_every=0, log_every=20,
                      tensorboard=False)
    summary = run(cfg)
    return {"corpus": corpus, "hf": root / "run" / "hf", "summary": summary}


def _hf_validation_loss(model, corpus, decoder_start: int | None = None) -> float:
    """Mean token loss of the validation split through transformers' own label shifting."""
    if decoder_start is not None:
        model.config.decoder_start_token_id = decoder_start
    total = tokens = 0.0
    for path in open_corpus(str(corpus)).split_files("validation"):
        table = pq.read_table(path, columns=["input_ids", "target_ids"])
        for inp, tgt in zip(table.column("input_ids").to_pylist(), table.column("target_ids").to_pylist()):
            with torch.no_grad():
                loss = model(input_ids=torch.tensor([inp]), labels=torch.tensor([tgt])).loss
            total += loss.item() * len(tgt)
            tokens += len(tgt)
    return total / tokens


def test_manifest_conventions_reach_the_export(trained):
    assert open_corpus(str(trained["corpus"])).conventions() == {"decoder_start_id": 1, "continuation_sentinel": 1}
    config = json.loads((trained["hf"] / "config.json").read_text())
    generation = json.loads((trained["hf"] / "generation_config.json").read_text())
    assert config["decoder_start_token_id"] == generation["decoder_start_token_id"] == 1
    assert config["continuation_sentinel"] == generation["continuation_sentinel"] == "<extra_id_1>"


def test_teacher_forced_validation_loss_through_transformers_equals_the_trainers(trained):
    model = T5ForConditionalGeneration.from_pretrained(trained["hf"]).eval()
    ours = trained["summary"]["val_loss"]
    theirs = _hf_validation_loss(model, trained["corpus"])
    assert theirs == pytest.approx(ours, rel=1e-4)
    assert trained["summary"]["val_loss_initial"] - ours > 0.5  # it trained
    # the check has teeth: T5's default start id (0) scores the same weights differently
    assert abs(_hf_validation_loss(model, trained["corpus"], decoder_start=0) - ours) > 1e-3


def test_the_seed_snippet_verbatim_continues_a_prompt(trained):
    # LongLM's model card, with only the checkpoint name changed
    tokenizer = T5Tokenizer.from_pretrained(str(trained["hf"]))
    tokenizer.add_special_tokens({"additional_special_tokens": ["<extra_id_%d>" % d for d in range(100)]})
    model = T5ForConditionalGeneration.from_pretrained(str(trained["hf"]))
    device = "cpu"
    torch.manual_seed(0)
    input_ids = tokenizer("小咕噜对,<extra_id_1>", return_tensors="pt", padding=True, truncation=True,
                          max_length=512).input_ids.to(device)
    gen = model.generate(input_ids, do_sample=True, decoder_start_token_id=1, top_p=0.9, max_length=512)
    sentinel = tokenizer.convert_tokens_to_ids("<extra_id_1>")
    assert input_ids[0, -2].item() == sentinel and input_ids[0, -1].item() == 1  # as training inputs end
    assert gen[0, 0].item() == 1 and 2 < gen.shape[1] <= 512
    with torch.no_grad():  # the model answers the way continuation targets start: <extra_id_1> first
        first = model(input_ids=input_ids, decoder_input_ids=torch.tensor([[1]])).logits[0, -1]
    assert first.argmax().item() == sentinel


def test_the_trainers_export_ships_tokenizer_json_that_t5tokenizer_uses(trained):
    # transformers 5 cannot parse a bare spiece.model under Beam's protobuf pin: tokenizer.json carries it
    tokenizers = pytest.importorskip("tokenizers")
    from transformers import PreTrainedTokenizerFast

    path = trained["hf"] / "tokenizer.json"
    assert path.is_file() and (trained["hf"] / "spiece.model").is_file()
    fast = tokenizers.Tokenizer.from_file(str(path))
    tokenizer = T5Tokenizer.from_pretrained(str(trained["hf"]))
    assert len(tokenizer) == 600  # 500 pieces + 100 sentinels, read from the export's files
    in_vocab = "\u4e00\u4e01\u4e03<extra_id_1>"
    assert tokenizer(in_vocab).input_ids == fast.encode(in_vocab).ids and fast.encode(in_vocab).ids[-1] == 1
    # transformers 5's T5Tokenizer rebuilds its pipeline without byte fallback: a character outside the
    # pieces becomes <unk> there, while tokenizer.json (loaded as is) keeps sentencepiece's byte ids
    rare = "\u54d5,<extra_id_1>"
    exact = PreTrainedTokenizerFast(tokenizer_file=str(path))
    assert exact(rare).input_ids == fast.encode(rare).ids and 2 not in fast.encode(rare).ids
    assert 2 in tokenizer(rare).input_ids
