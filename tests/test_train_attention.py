"""FlexAttention (T5's bias looked up in the kernel, segments as a block mask) computes what the SDPA path
computes; CPU checks the forward (flex's backward needs CUDA: bench/gpu_check.sh checks gradients)."""

import numpy as np
import pytest
import torch

from train.compiling import choose_attention
from train.config import preset
from train.data import StreamConfig, collate
from train.model import build_model
from train.packing import collate_packed, pack_batches
from train.trainer import summed_loss

VOCAB = 256


def _examples(n, seed):
    rng = np.random.Generator(np.random.PCG64(seed))
    return [(np.append(rng.integers(3, VOCAB, size=int(rng.integers(2, 40))), 1),
             np.append(rng.integers(3, VOCAB, size=int(rng.integers(2, 20))), 1)) for _ in range(n)]


def _batches():
    examples = _examples(12, seed=4)
    (packed,) = pack_batches(iter(examples), rows=4, input_len=128, target_len=64)
    return {"packed": collate_packed(packed, 4, 128, 64, 0, 0), "padded": collate(examples[:5], StreamConfig()),
            "padded rows": {k: v for k, v in collate(examples[:5], StreamConfig()).items()
                            if k not in ("input_positions", "target_positions")}}


@pytest.mark.parametrize("kind", ["packed", "padded", "padded rows"])
def test_flex_forward_equals_the_sdpa_path(kind):
    torch.set_num_threads(1)
    model = build_model(preset("tiny", vocab_size=VOCAB, dropout_rate=0.0), seed=2).eval()
    batch = _batches()[kind]
    with torch.no_grad():
        sdpa = summed_loss(model, batch)
        model.set_attention("flex")
        flex = summed_loss(model, batch)
        model.set_attention("sdpa")
    assert torch.isfinite(sdpa) and float(flex) == pytest.approx(float(sdpa), rel=1e-5)


def test_flex_logits_equal_sdpa_on_real_positions():
    torch.set_num_threads(1)
    model = build_model(preset("tiny", vocab_size=VOCAB, dropout_rate=0.0), seed=5).eval()
    b = _batches()["packed"]
    args = (b["input_ids"], b["decoder_input_ids"], b["attention_mask"])
    from train.attention import Segments

    segments = Segments(b["input_segments"], b["input_offsets"], b["target_segments"], b["target_offsets"])
    with torch.no_grad():
        sdpa = model(*args, segments=segments)
        model.set_attention("flex")
        flex = model(*args, segments=segments)
    real = b["target_segments"] > 0
    assert torch.allclose(flex[real], sdpa[real], atol=1e-5)


def test_attention_choice():
    cpu = torch.device("cpu")
    assert choose_attention("auto", cpu, compiled=True) == "sdpa"
    assert choose_attention("sdpa", torch.device("cuda"), compiled=True) == "sdpa"
    with pytest.raises(ValueError, match="attention: flex cannot train here"):
        choose_attention("flex", cpu, compiled=False)
    with pytest.raises(ValueError, match="attention"):
        choose_attention("fast", cpu, compiled=False)
    with pytest.raises(ValueError, match="attention must be one of"):
        build_model(preset("tiny", vocab_size=VOCAB)).set_attention("fast")


def test_flex_on_cpu_is_refused_before_anything_is_written(tmp_path):
    from train.synthetic import make_corpus
    from train.trainer import TrainConfig, run

    corpus = make_corpus(tmp_path / "corpus", n_train_lines=40, n_val_lines=4, seed=1)
    with pytest.raises(ValueError, match="attention: flex cannot train here"):
        run(TrainConfig(data=str(corpus), out=str(tmp_path / "run"), model="tiny", steps=1, attention="flex",
                        device="cpu", tensorboard=False))
    assert not (tmp_path / "run").exists()


def test_flex_on_cpu_is_a_usage_error_of_the_command(tmp_path, capsys):
    from train.cli import main
    from train.synthetic import make_corpus

    corpus = make_corpus(tmp_path / "corpus", n_train_lines=40, n_val_lines=4, seed=1)
    code = main(["train", "--data", str(corpus), "--out", str(tmp_path / "run"), "--model", "tiny", "--steps", "1",
                 "--attention", "flex", "--device", "cpu"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "flex cannot train here" in err[0]
    assert not (tmp_path / "run").exists()
