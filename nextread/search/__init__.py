"""Catalog search: full-text + semantic, fused, with filters parsed out of natural-language queries."""
