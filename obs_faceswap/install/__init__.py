"""Installer-side code (standard library only): finding OBS Studio (``obs_discovery``) and
registering the obs-faceswap script in its scene collection (``obs_register``)."""
