"""Arrow schemas, the schema version and the manifest format shared by the pipeline and the trainer.

This package depends on pyarrow alone: `train/` imports it without pulling in Beam.
"""

from schemas.tables import (  # noqa: F401
    DOCUMENTS,
    DUPLICATES,
    EXAMPLES,
    FILTERED,
    REJECTS,
    SCHEMA_VERSION,
    TABLES,
    TableSpec,
)
