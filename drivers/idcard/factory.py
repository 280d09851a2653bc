"""Choose a card-reader backend from its URL; pyscard is imported only for ``pcsc://``."""

from __future__ import annotations

from collections.abc import Callable

from drivers.idcard.base import CardReader
from drivers.urls import build_for_url


def _pcsc(url: str) -> CardReader:
    from drivers.idcard.pcsc import PcscCardReader

    return PcscCardReader(url)


def _simulated(url: str) -> CardReader:
    from drivers.idcard.sim import SimulatedCardReader

    return SimulatedCardReader(url)


BACKENDS: dict[str, Callable[[str], CardReader]] = {"pcsc": _pcsc, "sim": _simulated}


def card_reader_for_url(url: str) -> CardReader:
    """Build the card reader a URL names: ``pcsc://``, ``pcsc://?reader=NAME``, ``sim://...``."""
    return build_for_url(url, BACKENDS)


open_card_reader = card_reader_for_url
