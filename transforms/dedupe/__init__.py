"""Dedupe stage: exact and MinHash-LSH near-duplicate documents, cross-document boilerplate lines.

Public entry points: :class:`transforms.dedupe.stage.DedupeDocuments` (the Beam transform) and the
configs in :mod:`transforms.dedupe.config`. The pure pieces (key text, signatures, LSH, connected
components, boilerplate lines) live in their own modules and run without Beam.
"""
