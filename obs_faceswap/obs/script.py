"""The OBS script: registers the filter kinds and owns the worker's life.

OBS loads ``obs_faceswap_obs.py`` (repo root), which re-exports the ``script_*`` functions below.
"""

from __future__ import annotations

from typing import Any

from . import register, runtime
from .worker_link import PROJECT_ROOT, find_worker_python, link

WORKER_PYTHON_KEY = "worker_python"


def _obs() -> Any:
    import obspython  # type: ignore[import-not-found]  # only inside OBS

    return obspython


def script_description() -> str:
    python, where = find_worker_python(link().user_python)
    refusal = runtime.STATE.get("refusal", "")
    if refusal:
        state = f"<p style='color:#e55'><b>Filters not available:</b> {refusal}</p>"
    elif python:
        state = f"<p>Worker Python: <code>{python}</code> ({where}).</p>"
    else:
        state = f"<p style='color:#e55'><b>Worker not found:</b> {where}</p>"
    return (
        "<h3>obs-faceswap</h3>"
        "<p>Live face swap and voice clone. This script adds two filters:</p>"
        "<ul><li><b>Face Swap</b>: right-click a camera or image source &gt; Filters &gt; "
        "Effect Filters &gt; + &gt; Face Swap, then pick your source face photo.</li>"
        "<li><b>Voice Clone</b>: right-click a microphone &gt; Filters &gt; Audio Filters &gt; + &gt; "
        "Voice Clone.</li></ul>"
        f"{state}<p>Project: <code>{PROJECT_ROOT}</code>. Docs: docs/obs.md.</p>"
    )


def script_defaults(settings: Any) -> None:
    _obs().obs_data_set_default_string(settings, WORKER_PYTHON_KEY, "")


def script_properties() -> Any:
    obs = _obs()
    props = obs.obs_properties_create()
    p = obs.obs_properties_add_path(props, WORKER_PYTHON_KEY, "Worker Python (optional)", obs.OBS_PATH_FILE,
                                    "", None)
    obs.obs_property_set_long_description(
        p, "Interpreter of the obs-faceswap virtual environment. Leave empty to use the one the "
           "installer recorded, or the project's .venv.")
    return props


def script_update(settings: Any) -> None:
    link().configure(_obs().obs_data_get_string(settings, WORKER_PYTHON_KEY) or "")


def script_load(settings: Any) -> None:
    link().reopen()
    refusal = register.register_all()
    runtime.STATE["refusal"] = refusal
    if not refusal:
        python, where = find_worker_python(link().user_python)
        runtime.log(f"loaded from {PROJECT_ROOT}; worker Python: {python or 'not found'} ({where})")


def script_unload() -> None:
    """Script removed/reloaded or OBS exiting: stop the worker, free shared memory."""
    link().shutdown()  # closes every filter's channel; filters bypass until the script loads again
    runtime.log("unloaded: worker stopped")
