"""The shared kernel: what every layer may use (JSON text rules, time, ids, domain errors)."""
