"""ID cards and passports with an ICAO 9303 chip: one :class:`CardReader` interface, backends by URL.

>>> reader = open_card_reader("pcsc://")          # or "sim://" for the simulated chip
>>> document = reader.read_document(AccessKey.from_mrz(mrz_text))
>>> document.mrz.surname, document.photo.shape, document.passive_auth.passed

The chip is opened with PACE (ECDH generic mapping, AES or 3DES secure messaging) when its
EF.CardAccess offers it, with BAC otherwise; ``document.access_protocol`` says which. Passive
authentication checks EF.SOD against the data groups read and a folder of trusted CSCA certificates.
"""

from drivers.idcard.base import CardLink, CardReader, ChipDocument
from drivers.idcard.errors import (
    ACCESS_DENIED_MESSAGE,
    AccessDeniedError,
    CardError,
    CardRemovedError,
    NoCardError,
    ReaderNotFoundError,
    SecureMessagingError,
)
from drivers.idcard.factory import BACKENDS, card_reader_for_url, open_card_reader
from drivers.idcard.mrz import MRZ, AccessKey, MRZError, check_digit
from drivers.idcard.pa import Check, PassiveAuthReport

__all__ = [
    "ACCESS_DENIED_MESSAGE",
    "BACKENDS",
    "MRZ",
    "AccessDeniedError",
    "AccessKey",
    "CardError",
    "CardLink",
    "CardReader",
    "CardRemovedError",
    "Check",
    "ChipDocument",
    "MRZError",
    "NoCardError",
    "PassiveAuthReport",
    "ReaderNotFoundError",
    "SecureMessagingError",
    "card_reader_for_url",
    "check_digit",
    "open_card_reader",
]
