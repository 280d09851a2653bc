"""Read the machine readable zone (ICAO 9303 TD1, TD2, TD3) from a camera photo of a document.

>>> reading = read_mrz(rgb_pixels)            # or read_mrz_file("card.jpg")
>>> reading.valid, reading.format, reading.fields["document_number"]
>>> reading.to_json()

Pure computation: pixels in, an :class:`MRZReading` out. The OCR is RapidOCR's PP-OCR detector
(from the ``rapidocr`` wheel) and its recognizer run here directly with onnxruntime, so that every
character comes with the model's probabilities. The zone's lines are the long thin text boxes
that read as ``[A-Z0-9<]``, in whichever of the two directions along the box reads better (a
card upside down or turned a quarter reads too). Each character is then chosen *within the
type of its ICAO field* (digits in dates and check digits, letters in names and state codes), and
the result is accepted only when every check digit, the composite too, passes and nothing is in
doubt:

- a character outside its field's type is corrected only to its look-alike (O->0, B->8, 8->B...),
- where the model hesitates between two characters of an alphanumeric field, every combination
  is tried and one is accepted only if exactly one passes the check digits,
- where it hesitates in a field no check digit covers (names, state codes, sex), or misses a
  character outside a filler run, the answer is *not valid* with what to do.

Never a guess: a zone printed with a wrong check digit stays not valid.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from drivers.idcard.mrz import FORMATS, MRZ, MRZError

if TYPE_CHECKING:
    import onnxruntime

log = logging.getLogger(__name__)

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"
DIGITS = frozenset("0123456789")
LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
FILLER = "<"
# Characters the recognizer may emit for an MRZ character (its dictionary holds 18,708).
# (The chevrons are how it reads some fillers in a long run of them.)
LOOKALIKES = {"«": "<", "‹": "<", "〈": "<", "く": "<", "＜": "<", "(": "<", "ヘ": "<", "Λ": "<"}
HOMOGLYPHS = dict(
    zip("АВЕКМНОРСТХУІЅЈΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "ABEKMHOPCTXYISJABEZHIKMNOPTYX", strict=True)
)
# The only corrections made without the model's own second opinion: a character outside its
# field's type becomes its look-alike of the right type.
TO_DIGIT = {"O": "0", "Q": "0", "D": "0", "U": "0", "I": "1", "L": "1", "Z": "2", "S": "5"}
TO_DIGIT |= {"B": "8", "G": "6", "A": "4", "T": "7"}
TO_LETTER = {"0": "O", "1": "I", "2": "Z", "5": "S", "8": "B", "6": "G", "4": "A", "7": "T"}

# Tuning, in one place.
REC_HEIGHT = 48  # the recognizer's input height
MIN_LINE_ASPECT = 8.0  # a box at least this many times longer than high may be an MRZ line
MIN_LINE_CHARS = 20
# A line is cut out this many times as high as its box (the first to find the lines), then read
# again at the others; the reads are combined character by character.
CROP_HEIGHTS = (1.25, 1.0, 1.5)
CROP_END = 0.3  # box heights added at each end of a line
MIN_RELATIVE_LENGTH = 0.4  # MRZ lines are among the longest: shorter boxes are not read
SURE_LINE = 0.9  # an MRZ-like read this confident is not read the other way round
TEXT_CONFIDENCE = 0.8  # a box read this confidently as ordinary text is not read upside down
MAX_BANDS = 4  # bands of lines tried, best first
ALTERNATIVE_RATIO = 0.2  # another character this probable (relative) is a real alternative
MIN_UNCOVERED_CONFIDENCE = 0.5  # a character no check digit covers must be at least this sure
MAX_COMBINATIONS = 4096
LENGTH_TOLERANCE = 2  # fillers a line may miss or gain (the check digits then decide where)
NAME_TOLERANCE = 8  # fillers the names line may miss or gain at its end

ADVICE = "hold the document flat and still, add light without glare, and fill the frame with it"
VISA_REASON = "a visa"
VISA_MESSAGE = (
    "this is a visa (document code V), not an identity document: read the passport or card"
)
NO_MRZ_REASON = "no machine readable zone found"
NO_MRZ_MESSAGE = (
    f"{NO_MRZ_REASON}: show the side with the two or three lines of <<< characters, and {ADVICE}"
)


class UnreadableImageError(MRZError):
    """The input is not an image that can be read (empty, wrong type, truncated, too small).

    An :class:`MRZError` (hence a ``ValueError``): bad input, not a device failure, so it is none
    of the drivers' :class:`~drivers.errors.DriverError`. ``code`` matches the API's error code for
    a bad photo.
    """

    code = "invalid_image"


@dataclass(frozen=True)
class MRZReading:
    """What was read. ``valid`` only when every check digit passed and nothing was in doubt."""

    valid: bool
    text: str  # the zone's lines joined by newlines, as corrected ("" when none was found)
    format: str | None  # "TD1", "TD2" or "TD3"
    fields: dict[str, str]  # by name, only when valid: an unchecked reading is no data
    failed_checks: list[str]
    message: str  # what to do when not valid; "" when valid
    seconds: float
    mrz: MRZ | None = None  # the parsed zone, only when valid
    found: bool = False  # a band of MRZ-like lines was seen
    reason: str = ""  # why it is not valid, without the advice ("" when valid)

    @property
    def outcome(self) -> str:
        """A stable code: ``valid``, ``no_zone`` (none found), ``visa`` or ``unreliable``."""
        if self.valid:
            return "valid"
        if not self.found:
            return "no_zone"
        return "visa" if self.reason == VISA_REASON else "unreliable"

    @property
    def advice(self) -> str:
        """What to do for a better photo ("" when valid; a visa needs another document)."""
        return "" if self.outcome in ("valid", "visa") else ADVICE

    def to_dict(self) -> dict[str, Any]:
        return {
            "mrz": self.text,
            "valid": self.valid,
            "format": self.format,
            "fields": self.fields,
            "outcome": self.outcome,
            "failed_checks": self.failed_checks,
            "reason": self.reason,
            "advice": self.advice,
            "message": self.message,
            "seconds": round(self.seconds, 3),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)


def mrz_fields(mrz: MRZ) -> dict[str, str]:
    """The zone's fields by name, dates as printed (YYMMDD)."""
    fields = {
        "document_code": mrz.document_code,
        "issuing_state": mrz.issuing_state,
        "document_number": mrz.document_number,
        "birth_date": mrz.birth_date,
        "sex": mrz.sex,
        "expiry_date": mrz.expiry_date,
        "nationality": mrz.nationality,
        "surname": mrz.surname,
        "given_names": mrz.given_names,
        "optional_data": mrz.optional_data,
    }
    if mrz.format == "TD1":
        fields["optional_data_2"] = mrz.optional_data_2
    return fields


# --- field types ------------------------------------------------------------------------------
# A: letters or filler (codes, states, names); N: digit; C: check digit (digit, or a filler where
# ICAO allows one); X: letters, digits or filler (document number, optional data); S: sex.
# Lowercase letters mark characters no check digit covers.

ALLOWED = {
    "A": LETTERS | {FILLER},
    "N": DIGITS,
    "C": DIGITS | {FILLER},
    "X": LETTERS | DIGITS | {FILLER},
    "S": frozenset("MFX<"),
}

TYPES: dict[str, tuple[str, ...]] = {
    "TD1": ("aaaaaXXXXXXXXXCXXXXXXXXXXXXXXX", "NNNNNNNsNNNNNNNaaaXXXXXXXXXXXN", "a" * 30),
    "TD2": ("a" * 36, "XXXXXXXXXCaaaNNNNNNNsNNNNNNNXXXXXXXN"),
    "TD3": ("a" * 44, "XXXXXXXXXNaaaNNNNNNNsNNNNNNNXXXXXXXXXXXXXXCN"),
}
NAME_LINES = {"TD1": (2, 0), "TD2": (0, 5), "TD3": (0, 5)}  # (line, first column of the names)


@dataclass
class _Char:
    """One character position: the model's probability for each MRZ character, one row per read
    (rows do not sum to one: the rest went to symbols no MRZ holds)."""

    probs: NDArray[np.float32]  # reads x len(ALPHABET)
    synthetic: bool = False  # a filler inserted by length fixing

    @property
    def best(self) -> str:
        return ALPHABET[int(np.argmax(self.probs.mean(axis=0)))]


def _filler() -> _Char:
    probs = np.zeros((1, len(ALPHABET)), np.float32)
    probs[0, -1] = 1.0
    return _Char(probs, synthetic=True)


def _projection(kind: str) -> NDArray[np.float32]:
    """The matrix that moves a character's probability onto the characters of field type
    ``kind``: a glyph of the wrong type counts for its look-alike (an O in a date is a 0)."""
    allowed = ALLOWED[kind]
    look_alikes = TO_DIGIT if kind in "NC" else TO_LETTER if kind in "AS" else {}
    matrix = np.zeros((len(ALPHABET), len(ALPHABET)), np.float32)
    for j, char in enumerate(ALPHABET):
        target = char if char in allowed else look_alikes.get(char)
        if target is not None and target in allowed:
            matrix[ALPHABET.index(target), j] = 1.0
    return matrix


@dataclass
class _Read:
    """One crop as read: its MRZ characters and how much of it was anything else."""

    chars: list[_Char]
    confidence: float  # mean probability of the characters read
    foreign: int  # spaces and lower-case letters read
    spaces: int = 0

    @property
    def likeness(self) -> float:
        """How much this looks like an MRZ line: 0 when it does not at all."""
        if len(self.chars) < MIN_LINE_CHARS or self.confidence < 0.5 or self.foreign > 2:
            return 0.0
        text = "".join(c.best for c in self.chars)
        if FILLER not in text and (len(text) < 28 or self.confidence < 0.85):
            return 0.0
        return self.confidence * len(self.chars)


@dataclass
class _Line:
    """One MRZ-like line: its reads (from crops of different heights) and where it is."""

    reads: list[_Read]
    centre: NDArray[np.float64]
    direction: NDArray[np.float64]  # unit vector along the reading direction, image coordinates
    length: float
    height: float

    @property
    def chars(self) -> list[_Char]:
        return self.reads[0].chars

    @property
    def text(self) -> str:
        return "".join(c.best for c in self.chars)

    @property
    def likeness(self) -> float:
        return self.reads[0].likeness

    @property
    def down(self) -> NDArray[np.float64]:
        return np.array([-self.direction[1], self.direction[0]])


@dataclass
class _Attempt:
    """The outcome of decoding one band: a unique valid zone, or why not."""

    text: str
    format: str | None
    valid: bool
    failed_checks: list[str] = field(default_factory=list)
    reason: str = ""
    mrz: MRZ | None = None


# --- the OCR engine ---------------------------------------------------------------------------


class MRZEngine:
    """RapidOCR's detector and the PP-OCR recognizer, loaded once from the ``rapidocr`` wheel.

    Loading takes about half a second; make one and reuse it. Inference holds a lock, so one
    engine may serve several threads (one at a time). ``threads`` caps onnxruntime's threads.
    Nothing is ever downloaded: the model files are the wheel's, named explicitly, and a missing
    one is an error.
    """

    DET_MODEL = "PP-OCRv6_det_small.onnx"
    REC_MODEL = "PP-OCRv6_rec_small.onnx"

    def __init__(self, threads: int = 1, model_dir: Path | None = None) -> None:
        import onnxruntime as ort
        import rapidocr

        _route_rapidocr_logging()
        from rapidocr import RapidOCR  # imports rapidocr.main and its logger

        _route_rapidocr_logging()
        model_dir = model_dir or Path(rapidocr.__file__).resolve().parent / "models"
        det_path, rec_path = model_dir / self.DET_MODEL, model_dir / self.REC_MODEL
        for path in (det_path, rec_path):
            if not path.is_file():
                raise FileNotFoundError(
                    f"OCR model {path} is missing: reinstall rapidocr==3.10.0 (its wheel carries it)"
                )
        self.threads = threads
        self._lock = threading.Lock()
        self._detector = RapidOCR(
            params={
                "Global.log_level": "warning",
                "Global.use_det": True,
                "Global.use_cls": False,
                "Global.use_rec": False,
                "Det.model_path": str(det_path),
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._rec: onnxruntime.InferenceSession = ort.InferenceSession(
            str(rec_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        symbols = self._rec.get_modelmeta().custom_metadata_map["character"].splitlines()
        classes = ["", *symbols, " "]  # CTC blank first, space last (as PP-OCR's decoder)
        self._blank = 0
        self._space = len(classes) - 1
        # Which model classes count as each MRZ character (upper and lower case, look-alikes).
        index = {c: i for i, c in enumerate(ALPHABET)}
        self._class_to_mrz = np.full(len(classes), -1, np.int64)
        for i, symbol in enumerate(classes):
            mrz_char = _as_mrz_char(symbol)
            if mrz_char in index:
                self._class_to_mrz[i] = index[mrz_char]
        self._mrz_classes = np.flatnonzero(self._class_to_mrz >= 0)
        # Spaces and lower case mark ordinary text: an MRZ line has neither.
        self._foreign = np.array([s == " " or s != s.upper() for s in classes], bool)

    def detect(self, bgr: NDArray[np.uint8]) -> list[NDArray[np.float32]]:
        """Text boxes (4 corner points each) in the image's coordinates."""
        with self._lock:
            output = self._detector(bgr, use_cls=False, use_rec=False)
        boxes = getattr(output, "boxes", None)
        return [] if boxes is None else [np.asarray(b, np.float32) for b in boxes]

    def recognize(self, crops: list[NDArray[np.uint8]]) -> list[_Read]:
        """Each line crop (BGR) as MRZ characters with their probabilities."""
        import cv2

        if not crops:
            return []
        widths = [max(1, round(REC_HEIGHT * c.shape[1] / max(1, c.shape[0]))) for c in crops]
        batch = np.zeros((len(crops), 3, REC_HEIGHT, max(widths)), np.float32)
        for i, (crop, width) in enumerate(zip(crops, widths, strict=True)):
            resized = cv2.resize(crop, (width, REC_HEIGHT), interpolation=cv2.INTER_CUBIC)
            batch[i, :, :, :width] = (
                resized.astype(np.float32).transpose(2, 0, 1) / 255 - 0.5
            ) / 0.5
        with self._lock:
            (preds,) = self._rec.run(None, {self._rec.get_inputs()[0].name: batch})[:1]
        return [self._decode(np.asarray(p, np.float32)) for p in preds]

    def _decode(self, probs: NDArray[np.float32]) -> _Read:
        """Greedy CTC: one character per run of frames; its probabilities at the run's peak."""
        best = probs.argmax(axis=1)
        chars: list[_Char] = []
        confidences: list[float] = []
        foreign = spaces = 0
        t = 0
        while t < len(best):
            cls = int(best[t])
            end = t
            while end + 1 < len(best) and best[end + 1] == cls:
                end += 1
            if self._foreign[cls]:
                foreign += 1
                spaces += cls == self._space
            if cls not in (self._blank, self._space):
                peak = t + int(np.argmax(probs[t : end + 1, cls]))
                mrz = np.zeros(len(ALPHABET), np.float32)
                np.add.at(
                    mrz, self._class_to_mrz[self._mrz_classes], probs[peak, self._mrz_classes]
                )
                if mrz.sum() >= 0.05:  # a symbol with no MRZ reading at all is noise
                    chars.append(_Char(mrz[np.newaxis]))
                    confidences.append(float(mrz.max()))
            t = end + 1
        return _Read(chars, float(np.mean(confidences)) if confidences else 0.0, foreign, spaces)


def _as_mrz_char(symbol: str) -> str:
    """The MRZ character a recognizer symbol stands for, or "": case and width folded, and
    Cyrillic or Greek capitals that are drawn like Latin ones (Р is P) taken for them."""
    if symbol in LOOKALIKES:
        return LOOKALIKES[symbol]
    folded = unicodedata.normalize("NFKC", symbol).upper()
    folded = HOMOGLYPHS.get(folded, folded)
    return folded if len(folded) == 1 and folded in ALPHABET else ""


def _route_rapidocr_logging() -> None:
    """RapidOCR logs through its own coloured console handler: send it to ours instead."""
    logger = logging.getLogger("RapidOCR")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.propagate = True
    logger.setLevel(logging.WARNING)


_default_engine: MRZEngine | None = None
_default_lock = threading.Lock()


def default_engine() -> MRZEngine:
    """The process's shared engine, made on first use."""
    global _default_engine
    with _default_lock:
        if _default_engine is None:
            _default_engine = MRZEngine()
        return _default_engine


# --- reading ----------------------------------------------------------------------------------


def read_mrz_file(path: str | Path, engine: MRZEngine | None = None) -> MRZReading:
    """Read the MRZ of the photo in ``path`` (any format Pillow opens). The one call a CLI needs."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            rgb = np.asarray(ImageOps.exif_transpose(image).convert("RGB"), np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise UnreadableImageError(
            f"{path} is not a readable image ({error}): give a photo of the card (JPEG, PNG...)"
        ) from error
    return read_mrz(rgb, engine)


def read_mrz(pixels: NDArray[np.uint8], engine: MRZEngine | None = None) -> MRZReading:
    """Find, read and check the MRZ in RGB (or grey) pixels. Not valid when nothing is certain."""
    start = time.perf_counter()
    bgr = _to_bgr(pixels)
    engine = engine or default_engine()
    lines = _find_lines(engine, bgr)
    attempts = [_decode_band(band) for band in _bands(lines)[:MAX_BANDS]]
    valid = [a for a in attempts if a.valid]
    seconds = time.perf_counter() - start
    if valid and len({a.text for a in valid}) == 1:
        chosen = valid[0]
        assert chosen.mrz is not None
        log.info("MRZ read (%s) in %.2f s", chosen.format, seconds)
        return MRZReading(
            valid=True,
            text=chosen.text,
            format=chosen.format,
            fields=mrz_fields(chosen.mrz),
            failed_checks=[],
            message="",
            seconds=seconds,
            mrz=chosen.mrz,
            found=True,
        )
    if valid:
        attempts = [_Attempt(valid[0].text, None, False, [], "two bands read differently")]
    if not attempts:
        log.info("no MRZ found (%d line(s) looked like one) in %.2f s", len(lines), seconds)
        return MRZReading(False, "", None, {}, [], NO_MRZ_MESSAGE, seconds, reason=NO_MRZ_REASON)
    best = min(attempts, key=lambda a: (a.format is None, len(a.failed_checks)))
    what = best.reason or "check digits failed: " + ", ".join(best.failed_checks)
    message = f"the machine readable zone did not read reliably ({what}): {ADVICE}"
    if best.reason == VISA_REASON:
        message = VISA_MESSAGE
    log.info("MRZ not valid (%s) in %.2f s", what, seconds)
    return MRZReading(
        valid=False,
        text=best.text,
        format=best.format,
        fields={},
        failed_checks=best.failed_checks,
        message=message,
        seconds=seconds,
        found=True,
        reason=what,
    )


def _to_bgr(pixels: Any) -> NDArray[np.uint8]:
    import cv2

    if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8:
        raise UnreadableImageError("an image must be a uint8 numpy array (height x width [x 3])")
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if pixels.ndim == 2:
        bgr = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
    elif pixels.ndim == 3 and pixels.shape[2] in (3, 4):
        code = cv2.COLOR_RGB2BGR if pixels.shape[2] == 3 else cv2.COLOR_RGBA2BGR
        bgr = cv2.cvtColor(np.ascontiguousarray(pixels), code)
    else:
        raise UnreadableImageError(f"an image of shape {pixels.shape} is neither grey nor colour")
    if min(bgr.shape[:2]) < 32:
        raise UnreadableImageError(f"an image of {bgr.shape[1]}x{bgr.shape[0]} px is too small")
    return np.ascontiguousarray(bgr, np.uint8)


def _find_lines(engine: MRZEngine, bgr: NDArray[np.uint8]) -> list[_Line]:
    """Long thin text boxes that read like MRZ lines (either way along the box), read again
    from crops of other heights: the recognizer's answer depends on the margin it is given."""
    boxes = []
    for box in engine.detect(bgr):
        e01, e03 = box[1] - box[0], box[3] - box[0]
        along, across = (e01, e03) if np.linalg.norm(e01) >= np.linalg.norm(e03) else (e03, e01)
        length, height = float(np.linalg.norm(along)), float(np.linalg.norm(across))
        if height >= 4 and length / height >= MIN_LINE_ASPECT:
            boxes.append((box.mean(axis=0).astype(np.float64), along / length, length, height))
    longest = max((length for _, _, length, _ in boxes), default=0.0)
    boxes = [b for b in boxes if b[2] >= MIN_RELATIVE_LENGTH * longest]
    first, *others = CROP_HEIGHTS
    crops = [_crop(bgr, centre, d, length, height, first) for centre, d, length, height in boxes]
    reads = engine.recognize(crops)
    # Upside down, or a quarter turn the other way: read again what read neither as MRZ nor as
    # ordinary text (words and spaces, read with confidence: an MRZ upside down reads as a run
    # of letters, lower case too, but hardly ever with spaces).
    again = [
        i
        for i, r in enumerate(reads)
        if not (r.likeness > 0 and r.confidence >= SURE_LINE)
        and not (r.spaces > 0 and r.confidence >= TEXT_CONFIDENCE)
    ]
    flipped = engine.recognize([np.ascontiguousarray(crops[i][::-1, ::-1]) for i in again])
    for i, read in zip(again, flipped, strict=True):
        if read.likeness > reads[i].likeness:
            reads[i] = read
            centre, direction, length, height = boxes[i]
            boxes[i] = (centre, -direction, length, height)
    found = [i for i, read in enumerate(reads) if read.likeness > 0]
    extra = engine.recognize([_crop(bgr, *boxes[i], factor) for i in found for factor in others])
    lines = []
    for k, i in enumerate(found):
        centre, direction, length, height = boxes[i]
        more = extra[k * len(others) : (k + 1) * len(others)]
        lines.append(_Line([reads[i], *more], centre, direction, length, height))
    return lines


def _crop(
    bgr: NDArray[np.uint8],
    centre: NDArray[np.float64],
    direction: NDArray[np.float64],
    length: float,
    height: float,
    factor: float,
) -> NDArray[np.uint8]:
    """The box cut out straight, ``factor`` times its height, read along ``direction``."""
    import cv2

    down = np.array([-direction[1], direction[0]])
    half_l = direction * (length / 2 + height * CROP_END)
    half_h = down * height * factor / 2
    corners = np.array(
        [
            centre - half_l - half_h,
            centre + half_l - half_h,
            centre + half_l + half_h,
            centre - half_l + half_h,
        ],
        np.float32,
    )
    w, h = round(length + 2 * height * CROP_END), max(8, round(height * factor))
    target = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    matrix = cv2.getPerspectiveTransform(corners, target)
    crop = cv2.warpPerspective(
        bgr, matrix, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )
    return np.ascontiguousarray(crop, np.uint8)


def _bands(lines: list[_Line]) -> list[list[_Line]]:
    """Groups of 2 or 3 neighbouring parallel lines, in reading order, the most MRZ-like first."""
    parent = list(range(len(lines)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i, a in enumerate(lines):
        for j in range(i + 1, len(lines)):
            b = lines[j]
            if float(a.direction @ b.direction) < 0.98:
                continue
            offset = b.centre - a.centre
            across = abs(float(offset @ a.down))
            along = abs(float(offset @ a.direction))
            height = max(a.height, b.height)
            if 0.5 * min(a.height, b.height) <= across <= 3.0 * height and along <= 0.35 * max(
                a.length, b.length
            ):
                parent[root(j)] = root(i)
    groups: dict[int, list[_Line]] = {}
    for i, line in enumerate(lines):
        groups.setdefault(root(i), []).append(line)
    bands: list[list[_Line]] = []
    for group in groups.values():
        down = group[0].down
        group.sort(key=lambda line: float(line.centre @ down))
        for size in (3, 2):
            bands.extend(group[k : k + size] for k in range(len(group) - size + 1))
    bands = [band for band in bands if _formats(band)]
    bands.sort(key=lambda band: -sum(line.likeness for line in band))
    return bands


def _formats(band: list[_Line]) -> list[str]:
    """The formats whose line count and widths (give or take a few fillers) the band has."""
    return [
        name
        for name, (count, width) in FORMATS.items()
        if count == len(band)
        and all(abs(width - len(line.chars)) <= _tolerance(name, i) for i, line in enumerate(band))
    ]


def _tolerance(fmt: str, index: int) -> int:
    """Characters a line may miss or gain: more in the names line, whose end is all fillers."""
    return NAME_TOLERANCE if NAME_LINES[fmt][0] == index else LENGTH_TOLERANCE


def _decode_band(band: list[_Line]) -> _Attempt:
    """The band's unique valid zone over the formats and length fixes that fit, or why not."""
    raw = "\n".join(line.text for line in band)
    formats = _formats(band)
    if not formats:
        widths = "/".join(str(len(line.chars)) for line in band)
        return _Attempt(raw, None, False, [], f"{len(band)} line(s) of {widths} characters")
    accepted: dict[str, MRZ] = {}
    failures: list[_Attempt] = []
    for name in formats:
        width = FORMATS[name][1]
        variants = [_line_variants(line, width, i, name) for i, line in enumerate(band)]
        if not all(variants):
            failures.append(_Attempt(raw, name, False, [], "characters missing or extra"))
            continue
        for combination in itertools.product(*variants):
            outcome = _decode_lines(name, list(combination))
            if outcome.valid and outcome.mrz is not None:
                accepted[outcome.text] = outcome.mrz
            else:
                failures.append(outcome)
    if len(accepted) == 1:
        text, mrz = next(iter(accepted.items()))
        if mrz.document_code.startswith("V"):
            return _Attempt(text, None, False, [], VISA_REASON)
        return _Attempt(text, mrz.format, True, [], "", mrz)
    if accepted:
        return _Attempt(raw, formats[0], False, [], "more than one reading passes the checks")
    return min(failures, key=lambda a: (bool(a.reason), len(a.failed_checks)))


def _length_variants(chars: list[_Char], width: int, index: int, fmt: str) -> list[list[_Char]]:
    """The line brought to ``width`` characters by adding or removing fillers where that is safe.

    In a names line only its trailing filler run may change (the names themselves carry no check
    digit); elsewhere any run of two or more fillers may, and the check digits then decide.
    """
    missing = width - len(chars)
    if missing == 0:
        return [chars]
    text = "".join(c.best for c in chars)
    runs = [(start, start + len(run)) for start, run in _filler_runs(text) if len(run) >= 2]
    if NAME_LINES[fmt][0] == index:
        runs = [run for run in runs if run[1] == len(text)]
    if abs(missing) > _tolerance(fmt, index) or (abs(missing) > 2 and len(runs) != 1):
        return []
    variants: dict[str, list[_Char]] = {}
    for chosen in itertools.combinations_with_replacement(runs, abs(missing)):
        counts = {run: chosen.count(run) for run in set(chosen)}
        if missing < 0 and any(end - start - n < 1 for (start, end), n in counts.items()):
            continue  # a run must keep at least one filler
        new: list[_Char] = []
        for i, char in enumerate(chars):
            run = next(((s, e) for s, e in counts if s <= i < e), None)
            if run is not None and missing < 0 and i >= run[1] - counts[run]:
                continue  # removed from the end of its run
            new.append(char)
            if run is not None and missing > 0 and i == run[1] - 1:
                new.extend(_filler() for _ in range(counts[run]))
        variants["".join(c.best for c in new)] = new
    return list(variants.values())


def _line_variants(line: _Line, width: int, index: int, fmt: str) -> list[list[_Char]]:
    """The line at ``width`` characters with every read's probabilities, column by column (the
    reads that cannot be brought to that width are left out)."""
    per_read = [_length_variants(read.chars, width, index, fmt) for read in line.reads]
    per_read = [variants for variants in per_read if variants]
    combined = []
    for choice in itertools.product(*per_read):
        combined.append(
            [
                _Char(np.vstack([c.probs for c in column]), all(c.synthetic for c in column))
                for column in zip(*choice, strict=True)
            ]
        )
    return combined


def _filler_runs(text: str) -> list[tuple[int, str]]:
    runs: list[tuple[int, str]] = []
    i = 0
    while i < len(text):
        if text[i] == FILLER:
            j = i
            while j < len(text) and text[j] == FILLER:
                j += 1
            runs.append((i, text[i:j]))
            i = j
        else:
            i += 1
    return runs


def _decode_lines(fmt: str, lines: list[list[_Char]]) -> _Attempt:
    """Choose each character within its field's type; accept only a unique zone passing all checks."""
    options: list[list[list[str]]] = []  # per line, per column: the characters still possible
    sure: list[list[bool]] = []  # per line, per column: one choice, read with confidence
    for types, chars in zip(TYPES[fmt], lines, strict=True):
        row_options, row_sure = [], []
        for kind, char in zip(types, chars, strict=True):
            choices, confidence = _choices(kind.upper(), char)
            row_options.append(choices or [char.best])
            row_sure.append(
                char.synthetic or (len(choices) == 1 and confidence >= MIN_UNCOVERED_CONFIDENCE)
            )
        options.append(row_options)
        sure.append(row_sure)
    _fix_name_fillers(fmt, options, sure)
    _fix_lone_fillers(fmt, options)
    best_text = "\n".join("".join(column[0] for column in row) for row in options)
    doubts = [
        f"line {row + 1} column {col + 1}"
        for row, types in enumerate(TYPES[fmt])
        for col, kind in enumerate(types)
        if kind.islower() and not sure[row][col]
    ]
    if doubts:
        where = ", ".join(doubts[:3]) + (" ..." if len(doubts) > 3 else "")
        return _Attempt(best_text, fmt, False, ["unclear"], f"unclear characters at {where}")
    flat = [column for row in options for column in row]
    open_columns = [i for i, column in enumerate(flat) if len(column) > 1]
    combinations = 1
    for i in open_columns:
        combinations *= len(flat[i])
    if combinations > MAX_COMBINATIONS:
        return _Attempt(best_text, fmt, False, ["unclear"], "too many unclear characters")
    width = FORMATS[fmt][1]
    passing: dict[str, MRZ] = {}
    first_failure: MRZ | None = None
    for picks in itertools.product(*(flat[i] for i in open_columns)):
        chosen = [column[0] for column in flat]
        for i, pick in zip(open_columns, picks, strict=True):
            chosen[i] = pick
        joined = "".join(chosen)
        text = "\n".join(joined[k : k + width] for k in range(0, len(joined), width))
        try:
            mrz = MRZ.parse(text)
        except MRZError:
            continue
        if mrz.valid:
            passing[text] = mrz
        elif first_failure is None:
            first_failure = mrz
    if len(passing) == 1:
        text, mrz = next(iter(passing.items()))
        return _Attempt(text, fmt, True, [], "", mrz)
    if passing:
        return _Attempt(best_text, fmt, False, ["ambiguous"], "characters that read two ways")
    failed = first_failure.failed_checks if first_failure else ["format"]
    return _Attempt(best_text, fmt, False, failed)


def _choices(kind: str, char: _Char) -> tuple[list[str], float]:
    """The characters of type ``kind`` this one may be, most probable first, and how sure.

    Each read's probabilities are moved onto the field's type (look-alikes included), then the
    reads are combined by their geometric mean: what every read agrees on stays sure, and a
    disagreement between reads shows as doubt.
    """
    projected = char.probs @ PROJECTIONS[kind].T
    combined = np.exp(np.log(projected + 1e-6).mean(axis=0))
    order = np.argsort(-combined)
    top = float(combined[order[0]])
    if top < 0.05:
        return [], top
    choices = [ALPHABET[i] for i in order if combined[i] >= ALTERNATIVE_RATIO * top]
    return [c for c in choices if c in ALLOWED[kind]], top


PROJECTIONS = {kind: _projection(kind) for kind in ALLOWED}


def _fix_lone_fillers(fmt: str, options: list[list[list[str]]]) -> None:
    """A lone K or C between fillers of a number or optional-data field is a misread filler.

    No check digit can tell: K and < differ by 20 in ICAO's values, a multiple of ten.
    """
    for types, columns in zip(TYPES[fmt], options, strict=True):
        firsts = [column[0] for column in columns]
        for i in range(1, len(columns)):
            after = firsts[i + 1] if i + 1 < len(columns) else FILLER
            if types[i] == "X" and firsts[i] in "KC" and firsts[i - 1] == after == FILLER:
                columns[i] = [FILLER]


def _fix_name_fillers(fmt: str, options: list[list[list[str]]], sure: list[list[bool]]) -> None:
    """After the names end (a second ``<<``) only fillers follow: a filler read there is sure,
    and so is a lone K or C, which is how a filler is misread."""
    row, first = NAME_LINES[fmt]
    columns = options[row]
    text = "".join(column[0] for column in columns[first:])
    separator = text.find("<<")
    if separator < 0:
        return
    end = text.find("<<", separator + 2)
    if text[separator + 2 : separator + 3] == FILLER:
        end = separator + 2
    if end < 0:
        return
    for i in range(end, len(text)):
        lone = text[i - 1] == FILLER and text[i + 1 : i + 2] in (FILLER, "")
        if text[i] == FILLER or (text[i] in "KC" and lone):
            columns[first + i] = [FILLER]
            sure[row][first + i] = True
