"""Simulated devices for a station without hardware, fed from the real datasets folder."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from station.errors import StationError


def simulated_device_urls(datasets_dir: Path, csca_dir: Path | None = None) -> dict[str, str]:
    """Settings naming a simulated camera, fingerprint scanner and ID-card reader.

    The camera serves LFW dev photos in a shuffled order, the scanner FVC2002 DB1_B prints on an
    R307 frame at 57600 baud, and the card reader a personalised test chip whose photo is a real
    LFW face. With ``csca_dir`` the test CSCA that signed the chip is written there and trusted,
    so passive authentication passes as it would for a genuine card.
    """
    faces = datasets_dir / "faces" / "lfw_dev" / "images"
    prints = datasets_dir / "fingerprints" / "fvc2002_b" / "DB1_B"
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
    return {
        "camera_url": f"sim://?dir={quote(str(faces))}&order=shuffle",
        "scanner_url": f"sim://?dir={quote(str(prints))}&model=r307&baudrate=57600",
        "card_reader_url": card,
    }
