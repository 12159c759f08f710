"""Ingest: raw input files -> document rows or reject rows. `parse` (pure parsing of one file or piece),
`encoding` (bytes -> text), `stage` (the Beam PTransform :class:`transforms.ingest.stage.IngestFiles`)."""
