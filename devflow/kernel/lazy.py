"""Heavy libraries imported on first use.

A worker that has not yet flushed the lake, run the ETL or read a metric does not need pyarrow,
Polars or NumPy (together most of an idle worker's memory), so the modules that use them import
their names from here (``from devflow.kernel.lazy import pa, pc``): each is a :class:`LazyModule`,
and the real module to the type checker.

The real module is imported on the first attribute access, then its namespace is copied into the
proxy, so later accesses are plain attribute lookups. Such modules only use the name inside
functions; module-level schemas are built by cached functions instead.
"""

from __future__ import annotations

import importlib
import types
from typing import TYPE_CHECKING, Any


class LazyModule(types.ModuleType):
    """Stands for the module ``name`` until an attribute is read (see the module doc)."""

    def __getattr__(self, attribute: str) -> Any:
        # Only called for names not copied yet. The import system serialises concurrent first uses,
        # and copying the namespace again is harmless.
        module = importlib.import_module(self.__name__)
        self.__dict__.update({k: v for k, v in vars(module).items() if k not in _OWN})
        return getattr(module, attribute)


_OWN = frozenset({"__name__", "__loader__", "__spec__", "__package__"})


def lazy_module(name: str) -> Any:
    """A proxy that imports ``name`` on first use (typed ``Any``: guard a real import with
    ``TYPE_CHECKING`` for the type checker)."""
    return LazyModule(name)


if TYPE_CHECKING:
    import numpy as np
    import polars as pl
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq
else:
    np = lazy_module("numpy")
    pl = lazy_module("polars")
    pa = lazy_module("pyarrow")
    pc = lazy_module("pyarrow.compute")
    pafs = lazy_module("pyarrow.fs")
    pq = lazy_module("pyarrow.parquet")

__all__ = ["LazyModule", "lazy_module", "np", "pa", "pafs", "pc", "pl", "pq"]
