"""`longlm build --base OLD_DIR`: an incremental corpus version on top of a base version.

The increment builds with the base's config (every key) and the base's vocabulary
(`OLD_DIR/vocab/spiece.model`), records the base's version id as the config key `base_version_id`
(so it is part of the new version id), and hands the base's `signatures/` files (the chain's rows) and
the documents/ files of the whole chain to the dedupe stage, which dedupes the new input against itself
and the chain and supersedes chain documents a new one outranks (transforms/dedupe/increment.py).
The manifest's `chain` field names the bases (schemas/chain.py); run.json records where the base is.
"""

from __future__ import annotations

import os

from apache_beam.io.filesystems import FileSystems

from pipelines.build.config import BuildConfig, config_from_dict
from pipelines.corpus.manifest import read_chain
from schemas.chain import chain_record
from schemas.tables import DOCUMENTS, SIGNATURES
from transforms.config_base import ConfigError
from transforms.dedupe.increment import BaseVersion


def resolve_base(base_dir: str, config_data: dict | None = None, config_path: str | None = None,
                 vocab: str | None = None) -> tuple[BuildConfig, BaseVersion, dict]:
    """(config, the base for the dedupe stage, the manifest's `chain` record) of an increment on `base_dir`.

    `config_data` is a recorded config to rebuild (`longlm reproduce` of an increment): it must name
    this base. Otherwise the base's config is taken with the vocabulary and base id set. --config and
    --vocab cannot be combined with --base (the guarantee needs the base's config)."""
    if config_path or vocab:
        flag = "--config" if config_path else "--vocab"
        raise ConfigError(flag, "an increment builds with its base's config and vocabulary; drop it with --base")
    root = base_dir.rstrip("/")
    versions = read_chain(root)
    base = versions[0].manifest
    if config_data is not None:
        if config_data.get("base_version_id") != base["version_id"]:
            raise ConfigError("--base", f"'{root}' is {base['version_id']}, but the version to rebuild was built on "
                                        f"{config_data.get('base_version_id') or 'no base'}")
        data = config_data
    else:
        data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base["config"].items()}
        data.setdefault("vocab", {})["model_path"] = FileSystems.join(root, "vocab", "spiece.model")
        data["base_version_id"] = base["version_id"]
    paths = [FileSystems.join(root, f["path"]) for f in base.get("files", []) if f.get("table") == SIGNATURES.name]
    if not paths:
        raise ConfigError("--base", f"'{root}' has no {SIGNATURES.name}/ table (built before every build wrote one); "
                                    "rebuild it to use it as a base")
    documents = tuple(p for v in versions for p in v.files(DOCUMENTS.name))
    return config_from_dict(data), BaseVersion(base["version_id"], tuple(paths), documents), chain_record(versions)


def base_dir_record(output: str, base_dir: str) -> str:
    """How run.json records the base: relative to the output when both are local paths, else as given."""
    if "://" in output or "://" in base_dir:
        return base_dir.rstrip("/")
    return os.path.relpath(os.path.abspath(base_dir), os.path.abspath(output))


def check_not_increment(cfg: BuildConfig) -> None:
    """A config naming a base (e.g. copied from an increment's manifest) needs --base to find it."""
    if cfg.top.base_version_id:
        raise ConfigError("base_version_id", f"names base {cfg.top.base_version_id}: pass --base DIR of that version")
