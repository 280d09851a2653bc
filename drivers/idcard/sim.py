"""The simulated chip as an ordinary card-reader backend, reached in-process.

URL: ``sim://?mrz=TEXT&photo=PATH&format=jpeg|jpeg2000&seed=S&csca=DIR&chunk=N&extended=true``
``&pace=CURVE[:CIPHER]&bac=false&access=auto|pace|bac``.
Without ``photo`` the chip holds a drawn placeholder face; without ``mrz`` a Kyrgyz test ID card
(:data:`~drivers.idcard.personalise.DEFAULT_MRZ`). ``pace=brainpoolP256r1`` (or ``secp256r1:aes256``,
any standardised curve, cipher 3des/aes128/aes192/aes256) gives the chip an EF.CardAccess offering
PACE; ``bac=false`` makes it PACE-only. ``access`` is the reader's choice, as for ``pcsc://``. ``seed`` fixes the test CSCA key, so
``station card simulate --csca-out DIR`` can write the CSCA this chip's document signer chains to.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from drivers.idcard.base import CardLink, CardReader, ConnectionLink
from drivers.idcard.chip import CardPulled, SimulatedChip
from drivers.idcard.errors import CardRemovedError, NoCardError
from drivers.idcard.mrz import MRZ
from drivers.idcard.pace import pace_info
from drivers.idcard.personalise import DEFAULT_MRZ, make_pki, personalise
from drivers.idcard.protocol import SHORT_CHUNK
from drivers.urls import DeviceURL

OPTIONS = ("mrz", "photo", "format", "seed", "csca", "chunk", "extended", "pace", "bac", "access")
READER_NAME = "Simulated eMRTD reader 00 00"
DEFAULT_SEED = "station-test-csca"


class SimulatedConnection:
    """Looks like pyscard's ``CardConnection`` (connect, transmit, getATR, disconnect)."""

    def __init__(self, chip: SimulatedChip, reader: str = READER_NAME) -> None:
        self.chip = chip
        self.reader = reader
        self.connected = False

    def connect(self, protocol: Any = None, mode: Any = None, disposition: Any = None) -> None:
        if not self.chip.present:
            raise CardRemovedError(self.reader, "no card in the field")
        self.chip.power_on()
        self.connected = True

    def getReader(self) -> str:
        return self.reader

    def getATR(self) -> list[int]:
        return list(self.chip.atr)

    def transmit(self, command: list[int], protocol: Any = None) -> tuple[list[int], int, int]:
        if not self.connected:
            raise CardRemovedError(self.reader, "not connected")
        try:
            answer = self.chip.process(bytes(command))
        except CardPulled as exc:
            self.connected = False
            raise CardRemovedError(self.reader, str(exc)) from None
        return list(answer[:-2]), answer[-2], answer[-1]

    def disconnect(self) -> None:
        self.connected = False


class SimulatedCardReader(CardReader):
    """One reader with one simulated chip on it (``chip`` to bring your own)."""

    backend = "sim"

    def __init__(self, url: str = "sim://", chip: SimulatedChip | None = None) -> None:
        parsed = DeviceURL.parse(url)
        parsed.check_options(OPTIONS)
        csca = parsed.options.get("csca")
        super().__init__(
            url,
            csca_dir=Path(csca) if csca else None,
            chunk=parsed.int_option("chunk", SHORT_CHUNK, minimum=1),
            extended=parsed.bool_option("extended", False),
            access=parsed.options.get("access", "auto"),
        )
        if chip is None:
            photo_path = parsed.options.get("photo")
            photo = Path(photo_path).read_bytes() if photo_path else None
            image_format = parsed.options.get("format", "jpeg").upper()
            if image_format not in {"JPEG", "JPEG2000"}:
                raise ValueError(f"option format={image_format.lower()} must be jpeg or jpeg2000")
            mrz = parsed.options.get("mrz", DEFAULT_MRZ)
            seed = parsed.options.get("seed", DEFAULT_SEED)
            pki = make_pki(_country(MRZ.parse(mrz).issuing_state), seed=seed)
            pace_option = parsed.options.get("pace")
            infos = None
            if pace_option:
                curve, _, cipher = pace_option.partition(":")
                infos = [pace_info(curve, cipher or "aes128")]
            document = personalise(mrz, photo, image_format, pki=pki, pace=infos)
            chip = SimulatedChip(document, bac=parsed.bool_option("bac", True))
            if not chip.bac and not infos:
                raise ValueError("option bac=false needs pace=CURVE: the chip would offer nothing")
        self.chip = chip

    def insert(self, chip: SimulatedChip | None = None) -> None:
        """Put a card on the reader: ``chip``, or the one it held last."""
        if chip is not None:
            self.chip = chip
        self.chip.insert()

    def remove(self) -> None:
        """Take the card off the reader: reads wait for one (``NoCardError`` at their timeout),
        and a read under way fails as a pulled card would."""
        self.chip.present = False

    def _list_readers(self) -> list[str]:
        return [READER_NAME]

    def _connect(self, timeout: float) -> CardLink:
        deadline = time.monotonic() + timeout
        while not self.chip.present:
            if time.monotonic() >= deadline:
                raise NoCardError([READER_NAME], timeout)
            time.sleep(0.02)
        connection = SimulatedConnection(self.chip)
        connection.connect()
        return ConnectionLink(connection, READER_NAME)


def _country(state: str) -> str:
    from drivers.idcard.countries import alpha2_for

    return alpha2_for(state) or "KG"
