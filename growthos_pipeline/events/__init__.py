"""Events: the canonical model, validation and enrichment, and one mapper per wire protocol."""
