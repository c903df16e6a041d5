"""Video channel threads yield the CPU to OBS (worker/priority.py)."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from obs_faceswap.worker.priority import lower_this_thread, video_nice


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a thread's own nice value is Linux's")
def test_only_the_calling_thread_is_lowered(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, int] = {}
    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def video_thread() -> None:
        mine = threading.get_native_id()
        seen["lowered"] = int(lower_this_thread(5))
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, mine)
        child = threading.Thread(target=lambda: seen.update(child=os.getpriority(os.PRIO_PROCESS,
                                                                                 threading.get_native_id())))
        child.start()
        child.join()

    t = threading.Thread(target=video_thread)
    t.start()
    t.join()
    assert seen == {"lowered": 1, "nice": min(19, before + 5), "child": min(19, before + 5)}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before  # the others keep theirs
    monkeypatch.setenv("OBS_FACESWAP_VIDEO_NICE", "0")
    assert video_nice() == 0 and lower_this_thread() is False
    monkeypatch.setenv("OBS_FACESWAP_VIDEO_NICE", "lots")
    assert video_nice() == 10
