"""Choose the simulated population's faces and fingers once, and write the choice down.

    .venv/bin/python scripts/choose_population.py [DATASETS] [--out station/simulation_population.json]

The station's simulator (``station serve --sim``, :mod:`station.simulation`) reads the choice
from ``station/simulation_population.json`` and never encodes a face or extracts a finger at
start. The choice is made here with the station's own code, on the pictures as the simulated
devices deliver them, so what passes here passes at the desk:

Fingers (FVC2002 DB1_B, DB2_B, DB3_B, then UPEK, fingers in numeric order): each impression is
framed by the simulated R307 (256 x 288, centred, cropped or padded) and sent as 4-bit grey levels,
then extracted. An impression counts if the station would take it with a margin (quality at least
40, at least 15 minutiae; the station asks for 20 and 12). A finger joins the population with the
largest set of at least three counting impressions in which every two match with a margin (MCC
similarity at least 0.08; the station's threshold is 0.05), the enrollment impression first (the
one whose weakest match to the others is strongest), the others in file order. Every impression
kept is then compared with every impression of every other finger kept: all must stay below 0.05.

Faces (LFW dev, people in name order, the first eight photos of each): a photo is live if the
station's capture accepts it (the simulated camera holding it, the capture quality check, the
token portrait). The chip photo is a live photo that the encoder also finds exactly one face in
as a whole picture (as the station encodes a chip's DG2), and the live photos kept for it are the
others whose portrait lies within 0.95 of it (the station's 1:1 threshold for SFace is 1.10) and
within 1.0 of one another, at most four, nearest first. A person becomes a citizen with at least
two such live photos, when every one of their pictures lies further than 1.15 from every picture
of the citizens chosen before (0.25% of LFW's impostor pairs are nearer). Distances are the station's
default encoder's (SFace). Citizens alternate women and men (women: the LFW people in ``WOMEN``,
public figures known by their names; men: the others), as many as there are pairs of fingers.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drivers.camera.sim import SimulatedCamera
from drivers.fingerprint.models import model_profile
from drivers.fingerprint.protocol import pack_4bit, unpack_4bit
from drivers.fingerprint.sim import sensor_frame
from drivers.idcard.base import decode_photo
from matcher.face import face_encoder
from matcher.face.quality import FaceQualityChecker
from matcher.face.templates import face_distance
from matcher.fingerprint import mcc
from matcher.fingerprint.extract import extract
from station.capture import capture_face
from station.config import load_settings

FINGER_SETS = ("fvc2002_b/DB1_B", "fvc2002_b/DB2_B", "fvc2002_b/DB3_B", "upek")
SCANNER_MODEL = "r307"
MIN_QUALITY, MIN_MINUTIAE = 40, 15  # the station's defaults are 20 and 12
GENUINE_MARGIN = 0.08  # fingerprint_verify_threshold is 0.05
IMPOSTOR_LIMIT = 0.05
PHOTOS_PER_PERSON = 8
CHIP_DISTANCE = 0.95  # face_verify_threshold is 1.10 (SFace)
LIVE_DISTANCE = 1.00
MAX_LIVE = 4
OTHERS_DISTANCE = 1.15  # the 1:1 threshold is 1.10; LFW dev: FMR 0.25% at 1.15
# LFW people of this folder who are women, as the public figures they are.
WOMEN_NAMES = """
Ai_Sugiyama Alex_Sink Alexandra_Stevenson Allyson_Felix Amelia_Vega Amelie_Mauresmo
Ana_Guevara Anna_Kournikova Arianna_Huffington Azra_Akin Barbra_Streisand Benazir_Bhutto
Biljana_Plavsic Britney_Spears Calista_Flockhart Carly_Fiorina Carmen_Electra
Carolina_Kluft Carolyn_Dawn_Johnson Carrie-Anne_Moss Cate_Blanchett Catherine_Zeta-Jones
Christina_Aguilera Christine_Todd_Whitman Cindy_Crawford Clara_Harris Clare_Short
Conchita_Martinez Condoleezza_Rice Constance_Marie Debbie_Reynolds Diana_Krall
Doris_Schroeder Elena_Bovina Eliane_Karp Elizabeth_Smart Emma_Thompson Emma_Watson
Emmanuelle_Beart Erin_Runnion Evan_Rachel_Wood Geraldine_Chaplin Gwyneth_Paltrow
Heather_Mills Heidi_Fleiss Heidi_Klum Hilary_Duff Hillary_Clinton Hitomi_Soga JK_Rowling
Jennifer_Aniston Jennifer_Connelly Jennifer_Garner Jodie_Foster Justine_Pasek Kate_Hudson
Katherine_Harris Kathleen_Kennedy_Townsend Katie_Harman Kelly_Clarkson Kim_Clijsters
Kristin_Davis Kwon_Yang-sook Laura_Linney Leslie_Caldwell Ludivine_Sagnier Maria_Shriver
Maria_Soledad_Alvear_Valenzuela Mariah_Carey Mary-Kate_Olsen Mary_Carey Mary_Landrieu
Mary_Steenburgen Megan_Mullally Mireya_Moscoso Monica_Seles Nadia_Petrova Nancy_Pelosi
Naomi_Watts Natalie_Cole Natalie_Coughlin Natasha_McElhone Nathalie_Baye Nicole_Kidman
Norah_Jones Oxana_Fedorova Patricia_Clarkson Queen_Elizabeth_II Queen_Latifah Queen_Rania
Rachel_Griffiths Rachel_Hunter Renee_Zellweger Rita_Wilson Roseanne_Barr Sadie_Frost
Sally_Field Sally_Kirkland Salma_Hayek Sandra_Bullock Sarah_Hughes Sarah_Jessica_Parker
Sharon_Osbourne Sheryl_Crow Silvia_Farina_Elia Sonia_Gandhi Uma_Thurman Vanessa_Incontrada
Vanessa_Williams Venus_Williams Winona_Ryder Yoriko_Kawaguchi
"""
WOMEN = frozenset(WOMEN_NAMES.split())


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- fingers -----------------------------------------------------------------------------------


def scanned_template(path: Path) -> Any:
    """The template of an impression as the simulated scanner delivers it."""
    from PIL import Image

    profile = model_profile(SCANNER_MODEL)
    with Image.open(path) as image:
        grey = np.asarray(image.convert("L"), dtype=np.uint8)
    frame = sensor_frame(grey, profile.width, profile.height)
    pixels = unpack_4bit(pack_4bit(frame), profile.width, profile.height)
    return extract(pixels, profile.dpi)


def choose_impressions(
    counts: list[bool], similarity: list[list[float]]
) -> tuple[list[int], float] | None:
    """The largest set of counting impressions that all match one another (enrollment first)."""
    usable = [i for i, ok in enumerate(counts) if ok]
    for size in range(len(usable), 2, -1):
        best: tuple[float, tuple[int, ...]] | None = None
        for group in itertools.combinations(usable, size):
            weakest = min(
                min(similarity[a][b], similarity[b][a]) for a, b in itertools.combinations(group, 2)
            )
            if weakest >= GENUINE_MARGIN and (best is None or weakest > best[0]):
                best = (weakest, group)
        if best is not None:
            group = best[1]

            def strength(i: int, group: tuple[int, ...] = group) -> float:
                return min(min(similarity[i][j], similarity[j][i]) for j in group if j != i)

            first = max(group, key=lambda i: (strength(i), -i))
            return [first, *(i for i in group if i != first)], best[0]
    return None


def choose_fingers(datasets: Path) -> list[dict[str, Any]]:
    root = datasets / "fingerprints"
    chosen: list[dict[str, Any]] = []
    prepared: list[tuple[str, Any]] = []
    for folder in FINGER_SETS:
        paths = sorted((root / folder).glob("*_*.png"))
        fingers = sorted({p.stem.split("_")[0] for p in paths}, key=int)
        for finger in fingers:
            files = sorted(
                (p for p in paths if p.stem.split("_")[0] == finger),
                key=lambda p: int(p.stem.split("_")[1]),
            )
            templates = [scanned_template(p) for p in files]
            ready = [mcc.prepare(t) for t in templates]
            similarity = [[1.0 if a is b else mcc.similarity(a, b) for b in ready] for a in ready]
            counts = [t.quality >= MIN_QUALITY and t.count >= MIN_MINUTIAE for t in templates]
            picked = choose_impressions(counts, similarity)
            name = f"{folder}/{finger}"
            if picked is None:
                log(f"finger {name}: left out (no three impressions that match one another)")
                continue
            order, weakest = picked
            log(f"finger {name}: impressions {[i + 1 for i in order]}, weakest {weakest:.3f}")
            chosen.append(
                {
                    "finger": name,
                    "impressions": [files[i].name for i in order],
                    "weakest_genuine": round(weakest, 4),
                }
            )
            prepared.extend((name, ready[i].expand()) for i in order)
    strongest = 0.0
    for (a_name, a), (b_name, b) in itertools.combinations(prepared, 2):
        if a_name != b_name:
            strongest = max(strongest, mcc.similarity(a, b))
    log(f"strongest impostor pair of the kept impressions: {strongest:.4f}")
    if strongest >= IMPOSTOR_LIMIT:
        raise SystemExit(f"two different fingers match ({strongest:.4f}): choose differently")
    return chosen


# -- faces -------------------------------------------------------------------------------------


class FaceJudge:
    """The station's capture path and encoder, on one photo at a time."""

    def __init__(self, folder: Path) -> None:
        settings = load_settings(environ={})
        self.encoder = face_encoder(
            settings.face_encoder, max_detection_side=settings.max_detection_side
        )
        self.quality = FaceQualityChecker(encoder=self.encoder)
        self.camera = SimulatedCamera(f"sim://?dir={quote(str(folder))}")

    def live(self, photo: Path) -> np.ndarray | None:
        """The template of the photo's accepted capture, or None when the capture refuses it."""
        self.camera.present(photo)
        result = capture_face(self.camera, self.quality, timeout=10.0, max_frames=1)
        if not result.accepted or result.portrait is None:
            return None
        return self.encoder.encode(result.portrait).vector

    def chip(self, photo: Path) -> np.ndarray | None:
        """The template of the whole photo, as the station encodes a chip's DG2 (one face)."""
        try:
            return self.encoder.encode(decode_photo(photo.read_bytes())).vector
        except Exception:  # no face, or more than one
            return None


def choose_person(judge: FaceJudge, person: Path) -> dict[str, Any] | None:
    photos = sorted(person.glob("*.jpg"))[:PHOTOS_PER_PERSON]
    live = {p: v for p in photos if (v := judge.live(p)) is not None}
    best: tuple[tuple[int, float], Path, list[Path], np.ndarray] | None = None
    for chip_photo in live:
        chip = judge.chip(chip_photo)
        if chip is None:
            continue
        near = sorted((face_distance(chip, v), p) for p, v in live.items() if p != chip_photo)
        kept: list[Path] = []
        for distance, photo in near:
            if distance > CHIP_DISTANCE or len(kept) == MAX_LIVE:
                break
            if all(face_distance(live[photo], live[k]) <= LIVE_DISTANCE for k in kept):
                kept.append(photo)
        if len(kept) < 2:
            continue
        worst = max(face_distance(chip, live[k]) for k in kept)
        rank = (len(kept), -worst)
        if best is None or rank > best[0]:
            best = (rank, chip_photo, kept, chip)
    if best is None:
        return None
    _, chip_photo, kept, chip = best
    return {
        "person": person.name,
        "chip_photo": chip_photo.name,
        "live_photos": [p.name for p in kept],
        "chip_distances": [round(face_distance(chip, live[p]), 4) for p in kept],
        "_vectors": [chip, *(live[p] for p in kept)],
    }


def choose_faces(datasets: Path, count: int) -> list[dict[str, Any]]:
    faces = datasets / "faces" / "lfw_dev" / "images"
    judge = FaceJudge(faces)
    people = sorted(p for p in faces.iterdir() if p.is_dir())
    queues = {
        "F": iter([p for p in people if p.name in WOMEN]),
        "M": iter([p for p in people if p.name not in WOMEN]),
    }
    chosen: list[dict[str, Any]] = []
    while len(chosen) < count:
        sex = "F" if len(chosen) % 2 == 0 else "M"
        for person in queues[sex]:
            found = choose_person(judge, person)
            if found is None:
                log(f"face {person.name}: left out (too few photos the capture and chip agree on)")
                continue
            nearest = min(
                (
                    face_distance(a, b)
                    for other in chosen
                    for a in other["_vectors"]
                    for b in found["_vectors"]
                ),
                default=float("inf"),
            )
            if nearest <= OTHERS_DISTANCE:
                log(f"face {person.name}: left out (within {nearest:.2f} of a citizen chosen)")
                continue
            log(f"face {person.name} ({sex}): chip {found['chip_photo']}, {found['live_photos']}")
            chosen.append({**found, "sex": sex})
            break
        else:
            raise SystemExit(f"not enough people of sex {sex} whose photos agree")
    return [{k: v for k, v in c.items() if not k.startswith("_")} for c in chosen]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("datasets", nargs="?", type=Path, default=load_settings().datasets_dir)
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent.parent / "station" / "simulation_population.json",
    )
    args = parser.parse_args()
    started = time.monotonic()
    fingers = choose_fingers(args.datasets)
    faces = choose_faces(args.datasets, len(fingers) // 2)
    choice = {
        "about": "The simulated population's faces and fingers (station/simulation.py), chosen by "
        "scripts/choose_population.py from the shared datasets; choose again with "
        "`.venv/bin/python scripts/choose_population.py` if the datasets change.",
        "scanner_model": SCANNER_MODEL,
        "faces": faces,
        "fingers": fingers,
    }
    args.out.write_text(json.dumps(choice, indent=1) + "\n")
    log(
        f"{len(faces)} citizens, {len(fingers)} fingers written to {args.out} "
        f"in {time.monotonic() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
