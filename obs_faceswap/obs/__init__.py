"""Runs inside OBS Studio's embedded Python (standard library + ctypes only).

``script`` is the OBS script (loaded through ``obs_faceswap_obs.py`` at the project root),
``libobs`` the ctypes bindings, ``face_swap_filter`` / ``voice_clone_filter`` the two filter
kinds, ``properties`` the panels built from ``obs_faceswap.settings``, ``worker_link`` the
connection to the shared worker process.
"""
