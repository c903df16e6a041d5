"""Fixtures shared by the transport tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from obs_faceswap.ipc.frames import FrameChannel


@pytest.fixture
def pair() -> Iterator[tuple[FrameChannel, FrameChannel]]:
    """One frame channel as the OBS side creates it and as the worker attaches to it (4 MiB)."""
    client = FrameChannel.create(4 << 20)
    worker = FrameChannel.attach(client.name)
    yield client, worker
    worker.close()
    client.segment.unlink()
    client.close()
