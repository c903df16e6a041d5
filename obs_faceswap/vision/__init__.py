"""Face engine: detection, landmarks, alignment, identity, swap, masks, colour, paste-back."""
