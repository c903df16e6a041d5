"""Live mode without OBS: capture (webcam, screen, file) → face pipeline → preview / file / virtual camera."""
