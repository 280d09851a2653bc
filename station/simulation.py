"""Simulated devices for a station without hardware, fed from the real datasets folder, and the
simulated people who come to it.

A :class:`Population` is a fixed set of simulated citizens of Kyrgyzstan, each with an ID card
(a chip holding their MRZ and photo), live photos and two fingers, all from the shared datasets:
the faces are LFW people, the fingers FVC2002 set B and UPEK fingers, every finger a different
real finger. Which photos and impressions is chosen once by ``scripts/choose_population.py`` and
kept in ``simulation_population.json`` beside this module (so the station encodes nothing to
start); names, dates and document numbers come from a fixed seed. A :class:`SimulatedDesk` holds
who stands at the station and makes the simulated camera, scanner and card reader follow them
(a citizen with their card holds it up when the operator asks the camera for it)::

    desk = SimulatedDesk.attach(station.devices, Population.from_datasets(datasets_dir))
    desk.present("C01")              # C01 stands at the station with their ID card
    desk.present("C02", card=False)  # C02, who has no card with them
    desk.leave()                     # nobody: an empty scene, an empty glass, no card
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import random
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from station.errors import InvalidInputError, StationError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from drivers.camera.sim import SimulatedCamera
    from drivers.fingerprint.sim import SimulatedScanner
    from drivers.idcard.chip import SimulatedChip
    from drivers.idcard.sim import SimulatedCardReader
    from station.devices import Devices

log = logging.getLogger(__name__)

#: The faces and fingers chosen by ``scripts/choose_population.py``.
POPULATION_FILE = Path(__file__).with_name("simulation_population.json")
RIGHT_INDEX, LEFT_INDEX = 2, 7
#: ISO positions a citizen's fingers take, in order: two each, then more while fingers are left.
FINGER_ORDER = (RIGHT_INDEX, LEFT_INDEX, 3, 8, 1, 6, 4, 9, 5, 10)
SEED = 16  # issue #16; changing it renames and re-dates every citizen
ISSUING_STATE = "KGZ"
CARD_YEARS = 10  # a Kyrgyz ID card is valid for ten years
# Kyrgyz names in Latin letters as an MRZ holds them (ICAO 9303 transliteration: Ж is ZH).
WOMEN_NAMES = "AIGERIM AIZADA ALTYNAI ASEL BEGIMAI CHOLPON DINARA ELNURA GULNARA KANYKEI MEERIM"
MEN_NAMES = "AIBEK ALMAZ AZAMAT BAKYT BOLOT DASTAN ERMEK KANAT MAKSAT NURLAN TALANT TEMIR ULAN"
SURNAMES_TEXT = (  # the men's form; the women's adds an A
    "ABDYLDAEV ASANOV BAKIROV ISAKOV KADYROV MAMATOV NAZAROV OMURBEKOV OSMONOV SADYKOV "
    "SYDYKOV TOKTOGULOV USENOV ZHEENBEKOV ZHUMABAEV"
)
GIVEN_NAMES = {"F": tuple(WOMEN_NAMES.split()), "M": tuple(MEN_NAMES.split())}
SURNAMES = tuple(SURNAMES_TEXT.split())


def simulated_device_urls(
    datasets_dir: Path, csca_dir: Path | None = None, *, speedup: float = 1.0
) -> dict[str, str]:
    """Settings naming a simulated camera, fingerprint scanner and ID-card reader.

    The camera serves LFW dev photos in a shuffled order, the scanner the FVC2002 and UPEK prints
    on an R307 frame at 115200 baud (``speedup`` runs its serial line faster than real time, for
    tests), and the card reader a personalised test chip whose photo is a real LFW face. With
    ``csca_dir`` the test CSCA that signed the chip is written there and trusted, so passive
    authentication passes as it would for a genuine card. A :class:`SimulatedDesk` attached to
    these devices makes them show the citizen at the station instead.
    """
    faces = datasets_dir / "faces" / "lfw_dev" / "images"
    prints = datasets_dir / "fingerprints"
    for folder in (faces, prints):
        if not folder.is_dir():
            raise StationError(
                f"simulated devices need {folder}: set STATION_DATASETS to the datasets folder"
            )
    chip_photo = min((faces / "Aaron_Peirsol").glob("*.jpg"), default=None) or min(
        faces.rglob("*.jpg")
    )
    card = f"sim://?photo={quote(str(chip_photo))}"
    if csca_dir is not None:  # trust the test CSCA, so passive authentication passes
        from drivers.idcard.personalise import make_pki
        from drivers.idcard.sim import DEFAULT_SEED

        if not any(csca_dir.glob("*.pem")):
            make_pki("KG", seed=DEFAULT_SEED).write_csca(csca_dir)
        card += f"&csca={quote(str(csca_dir))}"
    # As a module after `station scanner speed`: its fastest line, the largest packets.
    scanner = f"sim://?dir={quote(str(prints))}&model=r307&baudrate=115200&packet_size=256"
    if speedup != 1.0:
        scanner += f"&speedup={speedup:g}"
    return {
        "camera_url": f"sim://?dir={quote(str(faces))}&order=shuffle",
        "scanner_url": scanner,
        "card_reader_url": card,
    }


# -- the population ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Citizen:
    """One simulated citizen: who they are (as their ID card says), their card's MRZ, and the
    pictures the simulated devices show of them."""

    id: str  # C01, C02, ...
    surname: str  # as the MRZ holds it: capitals, Latin letters
    given_names: str
    sex: str  # F or M
    birth_date: dt.date
    nationality: str
    document_number: str
    expiry_date: dt.date
    personal_number: str  # the 14-digit PIN, in the card's optional data
    mrz: str  # the TD1 zone of their ID card, three lines
    chip_photo: Path  # the photo in their chip's DG2
    live_photos: tuple[Path, ...]  # what the camera sees of them, one capture after another
    fingers: Mapping[int, tuple[Path, ...]] = field(hash=False)
    """ISO position -> that finger's impressions: the first for enrollment, the others for later
    scans (the scanner takes them in turn)."""
    face_source: str  # the LFW person whose photos these are

    @property
    def name(self) -> str:
        """The name as the station records it from the card: given names, then surname."""
        return f"{self.given_names} {self.surname}"

    def to_json(self) -> dict[str, Any]:
        """What a console shows of the citizen (no file paths)."""
        return {
            "id": self.id,
            "name": self.name,
            "surname": self.surname,
            "given_names": self.given_names,
            "sex": self.sex,
            "birth_date": self.birth_date.isoformat(),
            "nationality": self.nationality,
            "document_number": self.document_number,
            "expiry_date": self.expiry_date.isoformat(),
            "personal_number": self.personal_number,
            "mrz": self.mrz,
            "fingers": sorted(self.fingers),
            "face_source": self.face_source,
        }


@dataclass(frozen=True)
class Population:
    """The simulated citizens, in id order."""

    citizens: tuple[Citizen, ...]

    @classmethod
    def from_datasets(
        cls, datasets_dir: Path, size: int | None = None, choice: Path = POPULATION_FILE
    ) -> Population:
        """The population the datasets allow (or its first ``size`` citizens): the same
        citizens every run. Raises :class:`StationError` saying what to do when a chosen photo
        or print is not in ``datasets_dir``."""
        try:
            chosen = json.loads(choice.read_text())
            faces, fingers = chosen["faces"], chosen["fingers"]
        except (OSError, ValueError, KeyError) as exc:
            raise StationError(
                f"the simulated population's choice {choice} cannot be read ({exc}): restore it "
                "from the repository or run scripts/choose_population.py"
            ) from None
        face_root = datasets_dir / "faces" / "lfw_dev" / "images"
        finger_root = datasets_dir / "fingerprints"
        possible = min(len(faces), len(fingers) // 2)
        if not possible:
            raise StationError(
                f"the simulated population's choice {choice} holds nobody: run "
                "scripts/choose_population.py"
            )
        if size is not None and size < 1:
            raise ValueError("a population has at least one citizen")

        def found(path: Path) -> Path:
            return _exists(path, datasets_dir)

        positions = _assign_fingers(possible, len(fingers))
        identities = _identities([face["sex"] for face in faces[:possible]])
        citizens = []
        for number in range(possible if size is None else min(possible, size)):
            face = faces[number]
            person = face_root / face["person"]
            citizens.append(
                Citizen(
                    id=f"C{number + 1:02d}",
                    chip_photo=found(person / face["chip_photo"]),
                    live_photos=tuple(found(person / p) for p in face["live_photos"]),
                    fingers={
                        position: tuple(
                            found((finger_root / fingers[index]["finger"]).parent / name)
                            for name in fingers[index]["impressions"]
                        )
                        for position, index in positions[number].items()
                    },
                    face_source=face["person"],
                    **identities[number],
                )
            )
        log.debug("simulated population: %d citizens from %s", len(citizens), datasets_dir)
        return cls(tuple(citizens))

    def __len__(self) -> int:
        return len(self.citizens)

    def __iter__(self) -> Iterator[Citizen]:
        return iter(self.citizens)

    def __getitem__(self, citizen_id: str) -> Citizen:
        for citizen in self.citizens:
            if citizen.id == citizen_id:
                return citizen
        raise InvalidInputError(
            f"no simulated citizen {citizen_id!r}: choose one of "
            f"{self.citizens[0].id}-{self.citizens[-1].id}",
            field="citizen",
        )


def _exists(path: Path, datasets_dir: Path) -> Path:
    if not path.is_file():
        raise StationError(
            f"the simulated population needs {path}, which is not in the datasets folder "
            f"{datasets_dir}: set STATION_DATASETS to the shared datasets it was chosen from, or "
            "choose again for these datasets with `.venv/bin/python scripts/choose_population.py`"
        )
    return path


def _assign_fingers(citizens: int, fingers: int) -> list[dict[int, int]]:
    """Each citizen's ISO positions -> the index of that finger in the choice: two fingers each
    in turn (right and left index), then any left over to further positions, citizen by
    citizen."""
    assigned: list[dict[int, int]] = [{} for _ in range(citizens)]
    for index in range(fingers):
        round_number, place = divmod(index, 2 * citizens)
        owner = place // 2 if round_number == 0 else place % citizens
        slot = len(assigned[owner])
        if slot < len(FINGER_ORDER):
            assigned[owner][FINGER_ORDER[slot]] = index
    return assigned


def _identities(sexes: list[str]) -> list[dict[str, Any]]:
    """Names, dates and numbers for citizens of these sexes, from the fixed seed."""
    from drivers.idcard.document_image import td1_mrz

    rng = random.Random(SEED)
    names: set[tuple[str, str]] = set()
    numbers: set[str] = set()
    out = []
    for sex in sexes:
        while True:
            given = rng.choice(GIVEN_NAMES[sex])
            surname = rng.choice(SURNAMES) + ("A" if sex == "F" else "")
            if (given, surname) not in names:
                names.add((given, surname))
                break
        birth = dt.date(1955, 1, 1) + dt.timedelta(days=rng.randrange(50 * 365))
        issued = dt.date(2018, 1, 1) + dt.timedelta(days=rng.randrange(7 * 365))
        expiry = issued.replace(year=issued.year + CARD_YEARS) - dt.timedelta(days=1)
        number = f"ID{rng.randrange(10**7):07d}"
        while number in numbers:
            number = f"ID{rng.randrange(10**7):07d}"
        numbers.add(number)
        personal = f"{1 if sex == 'F' else 2}{birth:%d%m%Y}{rng.randrange(10**5):05d}"
        mrz = td1_mrz(
            number,
            f"{birth:%y%m%d}",
            f"{expiry:%y%m%d}",
            surname,
            given,
            sex=sex,
            issuing_state=ISSUING_STATE,
            nationality=ISSUING_STATE,
            document_code="ID",
            optional_data=personal,
        )
        out.append(
            {
                "surname": surname,
                "given_names": given,
                "sex": sex,
                "birth_date": birth,
                "nationality": ISSUING_STATE,
                "document_number": number,
                "expiry_date": expiry,
                "personal_number": personal,
                "mrz": mrz,
            }
        )
    return out


# -- the desk ----------------------------------------------------------------------------------


class SimulatedDesk:
    """Who stands at the station, and the simulated devices following them.

    The camera shows one of the citizen's live photos, a different one at each capture, or, when
    the operator asks for the card (``expect("document")``), a photo of their ID card held up to
    it (their MRZ and chip photo printed on a TD1 card); the card reader holds their ID card (a chip with their MRZ and photo, signed by the reader's test PKI
    so passive authentication passes); the scanner puts the finger the operator asks for on the
    glass, a different impression at each scan, the first one first. A citizen who comes back
    goes on where they left off. Nobody at the station is a state too: an empty scene, an empty
    glass, no card. Devices that are not simulated are left alone.
    """

    def __init__(
        self,
        population: Population,
        camera: SimulatedCamera | None = None,
        scanner: SimulatedScanner | None = None,
        card_reader: SimulatedCardReader | None = None,
    ) -> None:
        if not population.citizens:
            raise ValueError("a simulated desk needs a population with citizens")
        self.population = population
        self.camera = camera
        self.scanner = scanner
        self.card_reader = card_reader
        self._lock = threading.Lock()
        self._current: Citizen | None = None
        self._card = False
        self._photos: dict[str, Iterator[Path]] = {}
        self._fingers: dict[str, dict[int, Iterator[Path]]] = {}
        self._chips: dict[str, SimulatedChip] = {}
        self._card_photos: dict[str, NDArray[np.uint8]] = {}
        self.leave()

    @classmethod
    def attach(cls, devices: Devices, population: Population) -> SimulatedDesk:
        """A desk driving the simulated ones of ``devices``, kept as ``devices.desk``."""
        from drivers.camera.sim import SimulatedCamera
        from drivers.fingerprint.sim import SimulatedScanner
        from drivers.idcard.sim import SimulatedCardReader

        camera, scanner, reader = devices.camera, devices.scanner, devices.card_reader
        desk = cls(
            population,
            camera if isinstance(camera, SimulatedCamera) else None,
            scanner if isinstance(scanner, SimulatedScanner) else None,
            reader if isinstance(reader, SimulatedCardReader) else None,
        )
        if desk.camera is None and desk.scanner is None and desk.card_reader is None:
            raise StationError("no simulated device to drive: configure sim:// devices")
        devices.desk = desk
        log.info(
            "simulated desk: %d citizens (%s-%s) for the simulated %s",
            len(population),
            population.citizens[0].id,
            population.citizens[-1].id,
            ", ".join(
                name
                for name, device in (
                    ("camera", desk.camera),
                    ("scanner", desk.scanner),
                    ("card reader", desk.card_reader),
                )
                if device is not None
            ),
        )
        return desk

    @property
    def citizens(self) -> list[Citizen]:
        return list(self.population.citizens)

    @property
    def current(self) -> Citizen | None:
        """Who stands at the station (None: nobody)."""
        return self._current

    @property
    def card_on_reader(self) -> bool:
        """Whether the current citizen's ID card lies on the reader."""
        return self._card

    def present(self, citizen_id: str | None, card: bool = True) -> Citizen | None:
        """``citizen_id`` comes to the station, with their ID card on the reader unless
        ``card=False`` (someone without their card, to identify); None: nobody."""
        if citizen_id is None:
            self.leave()
            return None
        citizen = self.population[citizen_id]
        with self._lock:
            if self.camera is not None:
                self.camera.stand(self._photos_of(citizen), self._held_card(citizen, card))
            if self.scanner is not None:
                self.scanner.stand(self._fingers_of(citizen))
            if self.card_reader is not None:
                if card:
                    self.card_reader.insert(self.chip(citizen))
                else:
                    self.card_reader.remove()
            self._current, self._card = citizen, card
        log.info(
            "simulated desk: %s at the station%s", citizen.id, "" if card else " without a card"
        )
        return citizen

    def leave(self) -> None:
        """Nobody at the station: an empty scene, an empty glass, no card on the reader."""
        with self._lock:
            if self.camera is not None:
                self.camera.stand(None)
            if self.scanner is not None:
                self.scanner.stand(None)
            if self.card_reader is not None:
                self.card_reader.remove()
            self._current, self._card = None, False

    def chip(self, citizen: Citizen) -> SimulatedChip:
        """The chip of the citizen's ID card, made once: their MRZ and chip photo, signed by the
        card reader's test PKI, with the access (PACE, BAC) and photo format its URL asked for."""
        if citizen.id not in self._chips:
            from drivers.idcard import lds
            from drivers.idcard.chip import SimulatedChip
            from drivers.idcard.personalise import make_pki, personalise
            from drivers.idcard.sim import DEFAULT_SEED

            model = None if self.card_reader is None else self.card_reader.chip
            pki = model.document.pki if model is not None else make_pki("KG", seed=DEFAULT_SEED)
            jpeg2000 = model is not None and model.document.photo_type == lds.IMAGE_JPEG2000
            document = personalise(
                citizen.mrz,
                citizen.chip_photo.read_bytes(),
                "JPEG2000" if jpeg2000 else "JPEG",
                pki=pki,
                pace=list(model.pace_infos) if model is not None and model.pace_infos else None,
            )
            self._chips[citizen.id] = SimulatedChip(
                document, bac=True if model is None else model.bac
            )
        return self._chips[citizen.id]

    def card_photo(self, citizen: Citizen) -> NDArray[np.uint8]:
        """What the camera sees of the citizen's ID card held up to it, drawn once: their MRZ
        and chip photo on a TD1 card, a little turned, soft and unevenly lit (each citizen's own
        way, the same every run)."""
        if citizen.id not in self._card_photos:
            from drivers.camera.sim import held_document, load_rgb
            from drivers.idcard.document_image import HANDHELD

            number = self.population.citizens.index(citizen)
            hand = replace(HANDHELD, rotation=0.8 * (number % 5 - 2), seed=number)
            self._card_photos[citizen.id] = held_document(
                citizen.mrz, load_rgb(citizen.chip_photo), hand
            )
        return self._card_photos[citizen.id]

    def _held_card(self, citizen: Citizen, card: bool) -> Callable[[], NDArray[np.uint8]] | None:
        return (lambda: self.card_photo(citizen)) if card else None

    def to_json(self) -> dict[str, Any]:
        """The desk's state for a console: every citizen, who is here, whether their card is."""
        current = self._current
        return {
            "citizens": [c.to_json() for c in self.population],
            "current": None if current is None else current.id,
            "card_on_reader": self._card,
        }

    def _photos_of(self, citizen: Citizen) -> Iterator[Path]:
        if citizen.id not in self._photos:
            self._photos[citizen.id] = itertools.cycle(citizen.live_photos)
        return self._photos[citizen.id]

    def _fingers_of(self, citizen: Citizen) -> Mapping[int, Iterator[Path]]:
        if citizen.id not in self._fingers:
            self._fingers[citizen.id] = {
                position: itertools.cycle(impressions)
                for position, impressions in citizen.fingers.items()
            }
        return self._fingers[citizen.id]
