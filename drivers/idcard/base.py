"""The card-reader interface every backend implements.

Public methods validate, log and map errors; a backend implements only ``_list_readers`` and
``_connect`` (which returns a :class:`CardLink` moving APDUs). The ICAO conversation, passive
authentication and decoding are shared, so the simulated chip exercises the same code as PC/SC.
"""

from __future__ import annotations

import io
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from drivers.device import Device
from drivers.errors import DriverError
from drivers.idcard import lds, pace
from drivers.idcard.apdu import CommandAPDU, ResponseAPDU
from drivers.idcard.errors import AccessDeniedError, CardError, CardRemovedError
from drivers.idcard.mrz import MRZ, AccessKey, MRZError
from drivers.idcard.pa import PassiveAuthReport, load_csca_folder, passive_authentication
from drivers.idcard.protocol import SHORT_CHUNK, ChipSession

log = logging.getLogger(__name__)

#: How a reader opens the chip: PACE when EF.CardAccess offers it, else BAC; or one of them only.
ACCESS_MODES = ("auto", "pace", "bac")


class CardLink(ABC):
    """A connection to the card in one reader: moves APDUs, nothing else."""

    reader: str

    @abstractmethod
    def transmit(self, command: CommandAPDU) -> ResponseAPDU:
        """Send one command; raise :class:`CardRemovedError` when the card is gone."""

    @abstractmethod
    def close(self) -> None: ...


class PyscardConnection(Protocol):
    """The part of pyscard's ``CardConnection`` a link uses (the simulator offers the same)."""

    def transmit(self, command: list[int], protocol: Any = None) -> tuple[list[int], int, int]: ...

    def disconnect(self) -> None: ...


class ConnectionLink(CardLink):
    """A :class:`CardLink` over a pyscard-style connection; answers 61xx and 6Cxx as T=0 needs."""

    def __init__(
        self,
        connection: PyscardConnection,
        reader: str,
        map_error: Callable[[Exception], DriverError | None] = lambda exc: None,
    ) -> None:
        self.connection = connection
        self.reader = reader
        self._map_error = map_error

    def _raw(self, apdu: bytes) -> ResponseAPDU:
        try:
            data, sw1, sw2 = self.connection.transmit(list(apdu))
        except DriverError:
            raise
        except Exception as exc:
            mapped = self._map_error(exc)
            if mapped is None:
                raise
            raise mapped from exc
        return ResponseAPDU(bytes(data), sw1, sw2)

    def transmit(self, command: CommandAPDU) -> ResponseAPDU:
        raw = command.to_bytes()
        response = self._raw(raw)
        if response.sw1 == 0x6C:  # wrong Le: repeat with the length the card asks for
            response = self._raw(raw[:-1] + bytes([response.sw2]))
        data = response.data
        while response.sw1 == 0x61:  # more data: GET RESPONSE
            response = self._raw(bytes([command.cla & 0x03, 0xC0, 0x00, 0x00, response.sw2]))
            data += response.data
        return ResponseAPDU(data, response.sw1, response.sw2)

    def close(self) -> None:
        for step in ("disconnect", "release"):  # release: pyscard's per-connection context
            method = getattr(self.connection, step, None)
            if method is None:
                continue
            try:
                method()
            except Exception as exc:  # the card may already be gone; nothing left to release
                log.debug("%s %s: %s", step, self.reader, exc)


@dataclass(frozen=True)
class ChipDocument:
    """What a chip holds and what the reader made of it."""

    mrz: MRZ
    photo_bytes: bytes
    photo_mime: str
    photo: NDArray[np.uint8]  # RGB height x width x 3
    data_groups: list[int]  # every data group EF.COM lists
    files: dict[str, bytes]  # raw bytes of what was read: "COM", "SOD", "DG1", "DG2"
    passive_auth: PassiveAuthReport
    access_protocol: str  # "PACE" or "BAC"
    reader: str
    seconds: float
    apdus: int = 0
    extra: dict[str, object] = field(default_factory=dict)
    access_detail: str = ""  # e.g. "PACE-ECDH-GM-AES-CBC-CMAC-128 on brainpoolP256r1"
    access_notes: list[str] = field(default_factory=list)  # e.g. why PACE was not used

    def to_json(self) -> dict[str, object]:
        return {
            "document_code": self.mrz.document_code,
            "issuing_state": self.mrz.issuing_state,
            "document_number": self.mrz.document_number,
            "surname": self.mrz.surname,
            "given_names": self.mrz.given_names,
            "nationality": self.mrz.nationality,
            "birth_date": self.mrz.birth_date,
            "sex": self.mrz.sex,
            "expiry_date": self.mrz.expiry_date,
            "optional_data": self.mrz.optional_data,
            "mrz_checks": self.mrz.checks,
            "data_groups": [f"DG{n}" for n in self.data_groups],
            "photo_mime": self.photo_mime,
            "photo_bytes": len(self.photo_bytes),
            "photo_size": [int(self.photo.shape[1]), int(self.photo.shape[0])],
            "access_protocol": self.access_protocol,
            "access_detail": self.access_detail,
            "access_notes": self.access_notes,
            "passive_auth_passed": self.passive_auth.passed,
            "passive_auth": self.passive_auth.to_json(),
            "reader": self.reader,
            "read_seconds": round(self.seconds, 3),
            "apdus": self.apdus,
        }


def decode_photo(data: bytes) -> NDArray[np.uint8]:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    except (OSError, UnidentifiedImageError) as exc:
        raise CardError(f"the DG2 face image cannot be decoded: {exc}") from None


class CardReader(Device, ABC):
    """An ICAO 9303 chip reader. ``read_document(key)`` waits for a card, reads it and lets it go.

    ``csca_dir`` is the folder of trusted CSCA certificates; without it the CSCA check is reported
    as not done. ``access`` is one of :data:`ACCESS_MODES`: ``auto`` tries PACE when the chip's
    EF.CardAccess offers a PACE this reader runs and falls back to BAC otherwise.
    """

    backend = "abstract"

    def __init__(
        self,
        url: str,
        csca_dir: Path | None = None,
        chunk: int = SHORT_CHUNK,
        extended: bool = False,
        access: str = "auto",
    ) -> None:
        if access not in ACCESS_MODES:
            raise ValueError(f"access={access} is not one of {', '.join(ACCESS_MODES)}")
        self.url = url
        self.csca_dir = csca_dir
        self.chunk = chunk
        self.extended = extended
        self.access = access

    def list_readers(self) -> list[str]:
        """Names of the readers this backend sees."""
        return self._list_readers()

    def wait_for_card(self, timeout: float = 10.0) -> CardLink:
        """A link to the first card found within ``timeout`` seconds (``NoCardError`` otherwise)."""
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        link = self._connect(timeout)
        log.info("card present in %s", link.reader)
        return link

    def read_document(
        self, access_key: AccessKey, timeout: float = 10.0, csca_dir: Path | None = None
    ) -> ChipDocument:
        """Read EF.COM, EF.SOD, DG1 and DG2 and authenticate them passively.

        Raises :class:`AccessDeniedError` for a wrong key, :class:`CardRemovedError` if the card
        leaves; the reader stays usable after either.
        """
        if not isinstance(access_key, AccessKey):
            raise TypeError("read_document needs an AccessKey (see AccessKey.from_mrz)")
        csca_folder = csca_dir or self.csca_dir
        if csca_folder is not None and not csca_folder.is_dir():
            raise ValueError(f"CSCA folder {csca_folder} does not exist")
        started = time.monotonic()
        link = self.wait_for_card(timeout)
        try:
            session = ChipSession(link.transmit, chunk=self.chunk, extended=self.extended)
            self._authenticate(session, access_key)
            files = {
                "COM": session.read_file(lds.EF_COM),
                "SOD": session.read_file(lds.EF_SOD),
                "DG1": session.read_file(lds.DATA_GROUPS[1][0]),
                "DG2": session.read_file(lds.DATA_GROUPS[2][0]),
            }
        except CardRemovedError:
            log.warning("card removed from %s during the read", link.reader)
            raise
        except DriverError as exc:
            log.warning("reading the card in %s failed: %s", link.reader, exc)
            raise
        finally:
            link.close()
        document = self._interpret(files, csca_folder, session, link.reader, started)
        log.info(
            "read %s document %s… in %.2f s (%s, %d APDUs); passive authentication: %s",
            document.mrz.issuing_state,
            document.mrz.document_number[:3],
            document.seconds,
            document.access_protocol,
            document.apdus,
            document.passive_auth.summary(),
        )
        return document

    def _authenticate(self, session: ChipSession, access_key: AccessKey) -> None:
        """PACE if offered and allowed, else BAC; a wrong key is never retried with BAC."""
        if self.access != "bac":
            infos = session.read_card_access()
            chosen = pace.choose(infos)
            if chosen is None:
                offered = "; ".join(i.describe() for i in infos) or "no EF.CardAccess"
                if self.access == "pace":
                    raise CardError(f"the chip offers no PACE this reader runs ({offered})")
                session.notes.append(f"PACE not used: {offered}")
            else:
                ambiguous = sum(1 for i in infos if i.oid == chosen.oid) > 1
                try:
                    session.authenticate_pace(access_key, chosen, ambiguous=ambiguous)
                    session.select_application()
                    return
                except (AccessDeniedError, CardRemovedError):
                    raise
                except CardError as exc:
                    if self.access == "pace":
                        raise
                    log.warning("PACE failed (%s); trying BAC", exc)
                    session.sm = None
                    session.notes.append(f"PACE failed ({exc}); BAC used")
        session.select_application()
        session.authenticate_bac(access_key)

    def _interpret(
        self,
        files: dict[str, bytes],
        csca_folder: Path | None,
        session: ChipSession,
        reader: str,
        started: float,
    ) -> ChipDocument:
        try:
            present = lds.parse_com(files["COM"])
            mrz = lds.parse_dg1(files["DG1"])
            face = lds.parse_dg2(files["DG2"])
        except (lds.LDSError, MRZError) as exc:
            raise CardError(f"the chip's data is malformed: {exc}") from None
        csca = load_csca_folder(csca_folder) if csca_folder is not None else None
        report = passive_authentication(
            files["SOD"], {1: files["DG1"], 2: files["DG2"]}, csca, mrz.issuing_state
        )
        return ChipDocument(
            mrz=mrz,
            photo_bytes=face.image_bytes,
            photo_mime=face.mime_type,
            photo=decode_photo(face.image_bytes),
            data_groups=present,
            files=files,
            passive_auth=report,
            access_protocol=session.protocol,
            reader=reader,
            seconds=time.monotonic() - started,
            apdus=session.apdus,
            access_detail=session.protocol_detail,
            access_notes=list(session.notes),
        )

    def close(self) -> None:
        """Release whatever the backend holds (PC/SC context, simulator threads)."""
        log.debug("card reader %s closed", self.url)

    @abstractmethod
    def _list_readers(self) -> list[str]: ...

    @abstractmethod
    def _connect(self, timeout: float) -> CardLink: ...
