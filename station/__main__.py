"""``python -m station`` runs the ``station`` command."""

from station.cli import main

main()
