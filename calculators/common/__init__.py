"""Pieces shared by several model families (no graphflow imports)."""
