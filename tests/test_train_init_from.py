"""--init-from: a Hugging Face T5 directory (LongLM's release format) loads with every weight equal."""

import json
import shutil

import pytest
import torch

pytest.importorskip("transformers")
from transformers import T5Config, T5ForConditionalGeneration  # noqa: E402

from train.export import to_hf_state_dict  # noqa: E402
from train.hf_import import LEGACY_KEYS  # noqa: E402
from train.synthetic import make_corpus  # noqa: E402
from train.trainer import TrainConfig, Trainer, run  # noqa: E402

VOCAB = 640  # the synthetic corpus: 500 pieces + 100 sentinels, padded to 128


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus"), n_train_lines=120, n_val_lines=20, seed=8)


def _hf_model(**changes) -> T5ForConditionalGeneration:
    values = dict(vocab_size=VOCAB, d_model=64, d_ff=128, d_kv=16, num_heads=4, num_layers=2, num_decoder_layers=3,
                  feed_forward_proj="relu", tie_word_embeddings=True, decoder_start_token_id=0)
    values.update(changes)
    torch.manual_seed(3)
    model = T5ForConditionalGeneration(T5Config(**values)).eval()
    with torch.no_grad():  # non-trivial norms, so a swapped weight would show
        for param in model.parameters():
            if param.dim() == 1:
                param.mul_(1.0 + 0.3 * torch.rand_like(param))
    return model


def _save_bin(model, directory):
    """LongLM's released layout: config.json + pytorch_model.bin holding the tied aliases and the legacy key."""
    directory.mkdir(parents=True)
    model.config.save_pretrained(directory)
    state = dict(model.state_dict())
    for alias in ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight"):
        state[alias] = state["shared.weight"]
    state[LEGACY_KEYS[0]] = torch.randn(32, 4)
    torch.save(state, directory / "pytorch_model.bin")


def _cfg(corpus, tmp_path, init_dir, **changes):
    values = dict(data=str(corpus), out=str(tmp_path / "run"), init_from=str(init_dir), steps=2, batch_size=4,
                  threads=1, num_workers=0, eval_every=0, save_every=0, log_every=1, tensorboard=False,
                  export=False)
    values.update(changes)
    return TrainConfig(**values)


@pytest.mark.parametrize("layout", ["pytorch_model.bin", "model.safetensors"])
def test_every_weight_loads_equal(corpus, tmp_path, layout):
    hf = _hf_model()
    init_dir = tmp_path / "ckpt"
    if layout == "pytorch_model.bin":
        _save_bin(hf, init_dir)
    else:
        hf.save_pretrained(init_dir)
    assert (init_dir / layout).is_file()
    trainer = Trainer(_cfg(corpus, tmp_path, init_dir))
    ours = to_hf_state_dict(trainer.model.state_dict())
    theirs = {k: v for k, v in hf.state_dict().items() if k in ours}
    assert set(ours) == set(theirs) and len(ours) == 13 * 3 + 8 * 2 + 5  # every parameter, tied embedding once
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert trainer.model_cfg.num_decoder_layers == 3 and trainer.model_cfg.d_ff == 128  # architecture from config.json
    trainer.close()


def test_training_continues_from_the_loaded_weights(corpus, tmp_path):
    init_dir = tmp_path / "ckpt"
    _save_bin(_hf_model(), init_dir)
    summary = run(_cfg(corpus, tmp_path, init_dir, steps=2, lr=1e-3))
    assert summary["step"] == 2 and torch.isfinite(torch.tensor(summary["train_loss"]))


@pytest.mark.parametrize("changes,message", [
    ({"feed_forward_proj": "gated-gelu"}, "feed_forward_proj='gated-gelu'"),
    ({"tie_word_embeddings": False}, "tie_word_embeddings=false"),
    ({"vocab_size": 768}, "vocab_size 768.*longlm build --vocab"),
])
def test_unsupported_checkpoints_are_refused_with_a_reason(corpus, tmp_path, changes, message):
    init_dir = tmp_path / "ckpt"
    init_dir.mkdir()
    config = _hf_model().config.to_dict()
    config.update(changes)
    (init_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=message):
        Trainer(_cfg(corpus, tmp_path, init_dir))


def test_a_checkpoint_with_another_vocabulary_of_the_same_size_is_refused(corpus, tmp_path):
    from train.synthetic import chinese_like_lines, train_sentencepiece

    init_dir = tmp_path / "ckpt"
    _save_bin(_hf_model(), init_dir)
    shutil.copyfile(corpus / "vocab" / "spiece.model", init_dir / "spiece.model")
    Trainer(_cfg(corpus, tmp_path, init_dir)).close()  # its own vocabulary: accepted
    train_sentencepiece(chinese_like_lines(900, seed=99, n_chars=80), init_dir / "spiece.model", 500)
    with pytest.raises(ValueError, match="spiece.model differs"):
        Trainer(_cfg(corpus, tmp_path, init_dir))
