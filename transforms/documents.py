"""Document dicts (DOCUMENTS rows in the making): the one place their text-derived fields are computed."""

from __future__ import annotations

from transforms.cleaning.chars import han_count


def with_text(doc: dict, text: str) -> dict:
    """A copy of document `doc` with `text` and the fields derived from it recomputed: char_length, han_chars.

    Every stage that changes a document's text goes through here (cleaning, boilerplate removal), so
    the derived fields always describe the text written."""
    return dict(doc, text=text, char_length=len(text), han_chars=han_count(text))
