"""A version as the head of its chain: the effective file lists, the chain check, and a summary to print.

`longlm build --base` versions form chains (schemas/chain.py, docs/incremental.md). The chain's
effective corpus is every version's kept documents and examples minus the documents a later version
superseded; base files are never rewritten, so readers get every version's files plus the
superseded/ tables to leave out (`longlm files`), and the trainer skips those documents by doc_id.
"""

from __future__ import annotations

from pipelines.corpus.manifest import read_chain
from schemas.chain import Version
from schemas.tables import EXAMPLES, SUPERSEDED


def table_files(versions: list[Version], table: str, split: str | None = None) -> list[str]:
    """Paths of `table`'s non-empty files in every version of the chain, oldest version first
    (`split`: the examples split, "train" or "validation")."""
    subdir = f"{EXAMPLES.name}/{split}" if split else None
    return [p for v in reversed(versions) for p in v.files(table, subdir)]


def effective_files(root: str, table: str = EXAMPLES.name, split: str | None = "train") -> dict:
    """{"files": every version's `table` files, "superseded": every superseded/ file of the chain}:
    the rows of the chain's effective corpus are those of "files" whose doc_id is in no "superseded" file."""
    versions = read_chain(root)
    split = split if table == EXAMPLES.name else None
    return {"files": table_files(versions, table, split), "superseded": table_files(versions, SUPERSEDED.name)}


def summary_lines(versions: list[Version]) -> list[str]:
    """One line per version of the chain (head first) and the chain's accounting, for inspect/report/diff."""
    if len(versions) == 1:
        return []
    lines = [f"chain of {len(versions)} versions (head first):"]
    for v in versions:
        acc = v.manifest["accounting"]
        lines.append(f"  {v.version_id} at {v.root}: read {acc['read']}, kept {acc['kept']}, "
                     f"supersedes {acc.get('superseded', 0)} of earlier versions")
    chain = (versions[0].manifest.get("chain") or {}).get("accounting") or {}
    if chain:
        lines.append("  chain: read {read} = effective kept {effective_kept} + superseded {superseded} + rejected "
                     "{rejected} + filtered {filtered} + duplicates {duplicates} ({state})".format(
                         **chain, state="holds" if chain.get("holds") else "DOES NOT HOLD"))
    return lines
