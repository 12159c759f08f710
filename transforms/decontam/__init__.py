"""Decontamination: evaluation-set text (LOT, STORAL, any user set) removed from the corpus. See docs/decontamination.md."""
