"""``python -m benchmarks NAME [OPTIONS]``: run one benchmark (``--help`` lists them).

Add a benchmark with one import and one ``main.add_command`` line below.
"""

import os

# OpenMP threads that spin while waiting starve each other on a shared machine; yield instead
# (read when FAISS loads, so before the first import of it).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import logging

import click

from benchmarks.console import console
from benchmarks.dedup import dedup
from benchmarks.face import face
from benchmarks.fingerprint import fingerprint
from benchmarks.handover import handover
from benchmarks.liveness import liveness
from benchmarks.prefilter import prefilter
from benchmarks.roll import roll
from benchmarks.scanner import scanner
from benchmarks.shard_split import shard_split


@click.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def mrz(args: tuple[str, ...]) -> None:
    """MRZ read from photos: real specimens and rendered documents (--help for its options)."""
    from benchmarks.mrz_bench import main as mrz_main

    raise SystemExit(mrz_main(list(args)))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Measure the matchers' and the devices' speed and accuracy on the shared real data."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


main.add_command(console)
main.add_command(dedup)
main.add_command(face)
main.add_command(fingerprint)
main.add_command(handover)
main.add_command(liveness)
main.add_command(prefilter)
main.add_command(scanner)
main.add_command(shard_split)
main.add_command(mrz)
main.add_command(roll)

if __name__ == "__main__":
    main()
