"""The API's routes, one module per resource: health (no token), populations, runs."""
