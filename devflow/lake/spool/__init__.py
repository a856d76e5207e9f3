"""The durable spool in front of the lake: acknowledged means on disk (DESIGN.md flow 2)."""
