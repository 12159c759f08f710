"""Cleaning stage: normalization, junk and debris removal, then quality filters.

Modules: config (knobs), headings (chapter-heading detection), cleaner (Cleaner/CleanResult, the rule
chain), normalize/junk/debris/wrap/convert (the rules), patterns (+ patterns.toml, the junk patterns),
filters (the list of Filter objects and quality_check), stage (the Beam PTransform CleanDocuments).
"""
