"""Shared fixtures: the real corpus beside the checkout (optional) and small generated corpora."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


@pytest.fixture(scope="session")
def shared_corpus() -> Path:
    """../shared/corpus when it exists; the test is skipped otherwise (a fresh clone has none)."""
    if not (SHARED_CORPUS / "novels").is_dir():
        pytest.skip("../shared/corpus is not present beside the checkout")
    return SHARED_CORPUS
