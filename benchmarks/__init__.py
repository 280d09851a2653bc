"""Benchmarks and experiments: speed and accuracy at scale, outside the installed packages.

``python -m benchmarks NAME --help`` (or ``scripts/bench NAME``) lists each one's options. They read
the real data under the station's ``datasets_dir`` setting (``--datasets`` to change it), may
import the packages (``station.config``, ``calibration``, ``matcher``, ``drivers``), and nothing
in those packages imports them: the wheel ships without this folder.
"""
