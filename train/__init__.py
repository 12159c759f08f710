"""Torch-only trainer for LongLM-style T5 models on the corpus `longlm build` writes (never imports Beam).

Modules: config (presets, parameter arithmetic), model (the T5), data (streaming Parquet example
shards), trainer (DDP training loop), checkpoint (atomic checkpoints), export (transformers-loadable
RUN/hf), tokenizer (spiece.model as a T5 vocabulary), generate (top-p sampling without transformers),
cli (`train` / `generate` / `export` subcommands; also `python -m train`), synthetic (tiny corpora).
"""
