"""The durable spool in front of the lake: acknowledged means on disk (docs/design.md flow 2)."""
