"""Runs inside OBS Studio's embedded Python (standard library + ctypes only).

``script`` is the OBS script (loaded through ``obs_faceswap_obs.py`` at the project root) and
``register`` registers the filter kinds once per process; ``libobs`` holds the ctypes bindings
and struct layouts, ``runtime`` the process-wide registry of everything C points to.
Filters: ``face_swap_filter`` (render path), ``face_swap_async_filter`` (webcams, raw frames),
``voice_clone_filter`` (audio), sharing ``filter_base`` and ``callbacks``; ``properties`` builds
their panels from ``obs_faceswap.settings``; ``worker_link`` connects them to the one shared
worker; ``delay_line`` keeps the dry audio for underruns.
"""
