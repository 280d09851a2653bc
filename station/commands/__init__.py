"""Sub-command groups of the ``station`` command, one module per device or task."""
