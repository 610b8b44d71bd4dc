"""Pure domain core: models, seeded generation, desired-state planning and diffing. No I/O here."""
