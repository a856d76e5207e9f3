"""A local S3 (moto's server on 127.0.0.1) with one bucket, for lakes on an object store."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow.fs as pafs
import pytest


@contextmanager
def moto_lake(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Start moto, create the bucket; yields the lake URL inside it (stopped on exit)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # Credentials reach pyarrow's AWS SDK (and server subprocesses) through its standard variables.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    try:
        s3 = pafs.S3FileSystem(
            endpoint_override=f"127.0.0.1:{port}",
            scheme="http",
            region="us-east-1",
            allow_bucket_creation=True,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                s3.create_dir("devflow-lake")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield f"s3://devflow-lake/lake?endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"
    finally:
        server.terminate()
        server.wait(10)
