"""`TrainConfig`: every knob of a training run, and the `longlm train` flags derived from it.

Each field carries its flag's help, group and (optionally) choices in its metadata, so the CLI, the
checkpointed config and the validation at start-up are one list. Flag names are the field names with
dashes (`batch_size` -> `--batch-size`); a boolean that defaults to True becomes `--no-NAME`.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field

from train.config import PRESETS
from train.optim import OPTIMIZER_DEFAULTS

#: Ways to spread one model's training state over the processes of a multi-process job.
SHARDING = ("none", "zero1", "fsdp")


def opt(default, help: str, group: str, **flag):
    """A TrainConfig field: `default`, its flag's `help` and argparse `group`; `flag` holds extra argparse
    settings (choices, metavar, required, nargs/const, flag = an explicit flag name)."""
    return field(default=default, metadata={"help": help, "group": group, **flag})


@dataclass
class TrainConfig:
    """Every knob of a run (the CLI's flags); saved in checkpoints. Validated once, at construction."""

    data: str = opt(None, "corpus directory written by `longlm build`", "run", required=True, metavar="DIR")
    out: str = opt(None, "run directory (checkpoints, metrics, hf export)", "run", required=True, metavar="RUN")
    model: str = opt("small", "model preset", "run", choices=tuple(sorted(PRESETS)))
    steps: int = opt(10000, "optimizer steps in total", "run")
    resume: str | None = opt(None, "continue from RUN's latest checkpoint (or the given checkpoint directory)",
                             "run", nargs="?", const="latest", metavar="CKPT")
    init_from: str | None = opt(
        None, "start from the weights of a Hugging Face T5 directory (a released LongLM checkpoint or an "
        "export: config.json + model.safetensors or pytorch_model.bin); its architecture replaces --model, "
        "its vocabulary must be the corpus's", "run", metavar="DIR")
    stop_at: int | None = opt(None, "checkpoint and stop at this step (the schedule still spans --steps)", "run",
                              metavar="STEP")
    seed: int = opt(0, "initialisation and data-order seed", "run")
    export: bool = opt(True, "write RUN/hf (transformers-loadable T5 + tokenizer) at the end", "run")

    batch_size: int = opt(16, "examples per process per micro-batch (packed: rows of several examples)",
                          "batching and data")
    packing: str = opt("auto", "several examples per row of --max-input-len / --max-target-len slots (fixed "
                       "shapes, little padding); auto = on with CUDA", "batching and data",
                       choices=("auto", "on", "off"))
    grad_accum: int = opt(1, "micro-batches per optimizer step", "batching and data")
    num_workers: int = opt(1, "DataLoader workers per process", "batching and data")
    shuffle_buffer: int = opt(2048, "rows held for shuffling", "batching and data")
    max_input_len: int = opt(512, "truncate inputs to this many tokens", "batching and data")
    max_target_len: int = opt(512, "truncate targets to this many tokens", "batching and data")
    packed_input_len: int | None = opt(None, "input slots of a packed row (default --max-input-len; rows of "
                                       "about twice the longest example fill better)", "batching and data")
    packed_target_len: int | None = opt(None, "target slots of a packed row (default --max-target-len)",
                                        "batching and data")
    vocab_size: int | None = opt(None, "embedding rows when DIR has no vocab/spiece.model", "batching and data")

    optimizer: str = opt("adamw", "adamw, or torch's Adafactor (T5's optimizer; factored, less memory)",
                         "optimisation", choices=tuple(OPTIMIZER_DEFAULTS))
    lr: float | None = opt(None, "peak learning rate; for adafactor the cap on its relative step "
                           "(default: adamw 5e-4, adafactor 1e-2)", "optimisation")
    schedule: str | None = opt(None, "decay after warmup (default: adamw cosine, adafactor constant as in T5)",
                               "optimisation", choices=("cosine", "linear", "inverse_sqrt", "constant"))
    warmup_steps: int | None = opt(None, "linear warmup steps (default min(1000, steps/10))", "optimisation")
    min_lr_ratio: float = opt(0.1, "final lr / peak lr for the cosine and linear schedules", "optimisation")
    weight_decay: float | None = opt(None, "decoupled weight decay on matrices (default: adamw 0.01, adafactor 0)",
                                     "optimisation")
    adam_beta1: float = opt(0.9, "AdamW's beta1", "optimisation")
    adam_beta2: float = opt(0.999, "AdamW's beta2", "optimisation")
    clip_norm: float = opt(1.0, "gradient clipping norm (0: off)", "optimisation")
    dropout: float | None = opt(None, "dropout rate (default: the preset's 0.1)", "optimisation")
    precision: str = opt("auto", "auto = bf16 autocast on GPU, fp32 on CPU", "optimisation",
                         choices=("auto", "fp32", "bf16"))

    log_every: int = opt(10, "steps between progress lines", "logging and checkpoints")
    eval_every: int = opt(500, "steps between validations (0: off)", "logging and checkpoints")
    eval_batches: int = opt(50, "validation batches per process (0: all)", "logging and checkpoints")
    save_every: int = opt(1000, "steps between checkpoints (0: at the end only)", "logging and checkpoints")
    keep_checkpoints: int = opt(3, "checkpoints kept", "logging and checkpoints")
    tensorboard: bool = opt(True, "write TensorBoard logs (when tensorboard is installed)",
                            "logging and checkpoints")
    peak_tflops: float | None = opt(None, "peak TFLOP/s of one device, for the MFU in progress lines "
                                    "(known GPUs: automatic)", "logging and checkpoints")

    activation_checkpointing: bool = opt(False, "recompute each block's activations in backward "
                                         "(less memory, ~30%% more compute)", "hardware and memory")
    sharding: str = opt("none", "multi-process memory: none (DDP: every rank holds model, gradients and "
                        "optimizer state), zero1 (ZeRO-1: optimizer state split across ranks), fsdp (FSDP2: "
                        "parameters, gradients and optimizer state split, per T5 block)", "hardware and memory",
                        choices=SHARDING)
    compile: bool = opt(False, "torch.compile the model's blocks (falls back to eager, with a warning, where "
                        "the compiler cannot run)", "hardware and memory")
    attention: str = opt("auto", "attention kernel: flex (FlexAttention, T5's bias looked up in the kernel; "
                         "no attention-probability dropout), sdpa (additive bias mask); auto = flex on CUDA "
                         "where torch.compile works, else sdpa", "hardware and memory",
                         choices=("auto", "sdpa", "flex"))
    dist_timeout_s: float = opt(1800.0, "seconds a collective may wait for the other ranks before the job fails",
                                "hardware and memory")
    device: str = opt("auto", "where to train (auto: CUDA when present)", "hardware and memory",
                      choices=("auto", "cpu", "cuda"))
    threads: int | None = opt(None, "torch intra-op threads per process", "hardware and memory")

    def __post_init__(self):
        for key in ("data", "out"):
            if getattr(self, key) is None:
                raise ValueError(f"{key}: required")
        for f in dataclasses.fields(self):
            choices, value = f.metadata.get("choices"), getattr(self, f.name)
            if choices and value is not None and value not in choices:
                raise ValueError(f"{f.name}: unknown {value!r}; choose from {', '.join(choices)}")
        if self.sharding == "fsdp" and self.optimizer == "adafactor":
            raise ValueError("sharding: fsdp cannot step torch's Adafactor on sharded (DTensor) parameters; use "
                             "--sharding zero1 (Adafactor's factored state is small anyway) or --optimizer adamw")
        for key, limit in (("packed_input_len", self.max_input_len), ("packed_target_len", self.max_target_len)):
            if getattr(self, key) is not None and getattr(self, key) < limit:
                raise ValueError(f"{key}: {getattr(self, key)} is shorter than the longest example it must hold "
                                 f"({limit}, --max-{key.split('_')[1]}-len)")
        for key, value in OPTIMIZER_DEFAULTS[self.optimizer].items():
            if getattr(self, key) is None:
                setattr(self, key, value)

    def warmup(self) -> int:
        """Warmup steps: as given, else min(1000, steps // 10)."""
        return self.warmup_steps if self.warmup_steps is not None else min(1000, self.steps // 10)


def _flag_type(f: dataclasses.Field):
    """int, float or str for a field annotated 'int', 'float | None', ... (annotations are strings here)."""
    base = str(f.type).split("|")[0].strip()
    return {"int": int, "float": float, "str": str}[base]


def add_config_arguments(parser: argparse.ArgumentParser, cls=TrainConfig) -> None:
    """One flag per field of `cls`, in argument groups, with help from the field metadata."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for f in dataclasses.fields(cls):
        meta = dict(f.metadata)
        group = groups.get(meta["group"]) or groups.setdefault(meta["group"], parser.add_argument_group(meta["group"]))
        help_text = meta.pop("help")
        meta.pop("group")
        name = "--" + f.name.replace("_", "-")
        if str(f.type) == "bool":
            negated = f.default is True
            flag = f"--no-{f.name.replace('_', '-')}" if negated else name
            group.add_argument(flag, dest=f.name, action="store_false" if negated else "store_true",
                               default=f.default, help=("do not " + help_text) if negated else help_text)
            continue
        if f.default is not None and "required" not in meta:
            help_text += " (default %(default)s)"
        kind = _flag_type(f)
        if "metavar" not in meta and "choices" not in meta:
            meta["metavar"] = {int: "N", float: "X"}.get(kind, f.name.upper())
        group.add_argument(name, dest=f.name, type=kind, default=f.default, help=help_text, **meta)


def config_from_args(args: argparse.Namespace, cls=TrainConfig):
    """The `cls` instance the parsed flags describe (other attributes of `args` are ignored)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in vars(args).items() if k in names})
