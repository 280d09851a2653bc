"""``station card``: what a technician runs to check an ID-card reader and a document's chip.

``station card read --url pcsc:// --mrz "..."`` reads a card and prints the MRZ fields and the
passive-authentication report; ``station card mrz PHOTO`` (or ``--camera``) reads the MRZ from a
photo of the card instead of typing it; ``station card simulate`` puts the simulated chip on
vpcd's virtual reader so the whole PC/SC chain can be tried without a card.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from drivers.errors import DriverError
from drivers.idcard import AccessKey, MRZError, card_reader_for_url
from station.commands.common import data_options
from station.commands.output import echo_json, fail
from station.config import load_secrets
from station.logsetup import configure_logging

if TYPE_CHECKING:
    from drivers.idcard.mrz_reader import MRZReading

URL_HELP = "Reader URL: pcsc:// (first reader with a card), pcsc://?reader=NAME, or sim:// (simulated chip)."
EXIT_NOT_VALID = 3


def _access_key(
    mrz: str | None, doc: str | None, birth: str | None, expiry: str | None
) -> AccessKey:
    if mrz:
        if doc or birth or expiry:
            raise click.UsageError("give either --mrz or --doc/--birth/--expiry, not both")
        return AccessKey.from_mrz(mrz.replace("\\n", "\n"))
    if not (doc and birth and expiry):
        raise click.UsageError("give --mrz TEXT, or all of --doc, --birth and --expiry")
    return AccessKey(doc, birth, expiry)


@click.group()
def card() -> None:
    """Check an ID-card reader and read ICAO 9303 chips (ID cards, passports)."""
    configure_logging("WARNING", None, stderr_level="ERROR")  # the command reports errors itself


@card.command()
@click.option("--url", default="pcsc://", show_default=True, help=URL_HELP)
@click.option("--mrz", help="The document's MRZ (lines separated by newlines or '\\n').")
@click.option("--doc", help="Document number, as printed in the MRZ.")
@click.option("--birth", help="Birth date YYMMDD.")
@click.option("--expiry", help="Expiry date YYMMDD.")
@click.option(
    "--csca",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of trusted CSCA certificates (PEM/DER) for passive authentication.",
)
@click.option(
    "--photo", type=click.Path(dir_okay=False, path_type=Path), help="Write the chip's photo here."
)
@click.option(
    "--timeout", type=float, default=10.0, show_default=True, help="Seconds to wait for a card."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def read(
    url: str,
    mrz: str | None,
    doc: str | None,
    birth: str | None,
    expiry: str | None,
    csca: Path | None,
    photo: Path | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Read a card's chip: MRZ fields, photo and passive authentication. Exit 0 only if authentic."""
    key = _access_key(mrz, doc, birth, expiry)
    try:
        with card_reader_for_url(url) as reader:
            document = reader.read_document(key, timeout=timeout, csca_dir=csca)
    except (DriverError, MRZError, ValueError) as exc:
        fail(exc, as_json)
    if photo is not None:
        photo.write_bytes(document.photo_bytes)
    result: dict[str, Any] = document.to_json()
    if photo is not None:
        result["photo_file"] = str(photo)
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        m = document.mrz
        click.echo(
            f"reader          {document.reader} ({document.access_protocol}, {document.seconds:.2f} s)"
        )
        click.echo(f"access          {document.access_detail}")
        for note in document.access_notes:
            click.echo(f"                {note}")
        click.echo(
            f"document        {m.document_code} {m.issuing_state} {m.document_number} ({m.format})"
        )
        click.echo(f"name            {m.surname}, {m.given_names}")
        click.echo(f"nationality     {m.nationality}   sex {m.sex}")
        click.echo(f"birth / expiry  {m.birth_date} / {m.expiry_date}")
        click.echo(f"data groups     {', '.join(f'DG{n}' for n in document.data_groups)}")
        size = f"{document.photo.shape[1]}x{document.photo.shape[0]}"
        click.echo(
            f"photo           {document.photo_mime} {size}, {len(document.photo_bytes)} bytes"
            + (f" -> {photo}" if photo else "")
        )
        click.echo("passive authentication:")
        for check in document.passive_auth.checks:
            click.echo(f"  {check.verdict:<12} {check.name:<18} {check.detail}")
        click.echo(f"verdict         {document.passive_auth.summary()}")
    sys.exit(0 if document.passive_auth.passed else 4)


@card.command()
@click.argument(
    "image", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--camera", is_flag=True, help="Photograph the card held up to the camera (one frame)."
)
@click.option(
    "--url",
    "camera_url",
    help="With --camera: this camera (opencv://0, sim://?mrz=TEXT...) instead of the station's "
    "own, which is opened through the station as a signed-in operator and audited.",
)
@data_options
@click.option(
    "--operator",
    default=lambda: load_secrets().operator,
    help="With --camera and no --url: your login (or $STATION_OPERATOR).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def mrz(
    image: Path | None,
    camera: bool,
    camera_url: str | None,
    data_dir: Path | None,
    config_file: Path | None,
    operator: str | None,
    as_json: bool,
) -> None:
    """Read the MRZ from a photo of the card (IMAGE, or --camera): its zone, format and fields.
    Exit 0 when every check digit passes, 3 when not (the reason and what to do), 1 on error."""
    if camera_url and not camera:
        raise click.UsageError("--url names a camera: add --camera")
    if (image is None) == (not camera):
        raise click.UsageError("give a photo of the card (IMAGE), or --camera")
    if image is not None or camera_url:
        answer = _read_here(image, camera_url, as_json)
    else:
        answer = _read_at_station(data_dir, config_file, operator)
    if as_json:
        echo_json(answer)
    elif answer["valid"]:
        click.echo(f"VALID {answer['format']} ({answer['seconds']:.2f} s)\n{answer['mrz']}")
        for name, value in answer["fields"].items():
            click.echo(f"  {name:<16} {value}")
    else:
        click.echo(
            f"NOT VALID: {answer['reason']}" + (f"\n{answer['mrz']}" if answer["mrz"] else "")
        )
        click.echo(f"what to do: {answer['advice'] or answer['message']}")
    sys.exit(0 if answer["valid"] else EXIT_NOT_VALID)


def _read_here(image: Path | None, camera_url: str | None, as_json: bool) -> dict[str, Any]:
    """The MRZ of a photo file, or of one frame of the camera at ``camera_url``."""
    from drivers.camera import camera_for_url
    from drivers.idcard.mrz_reader import read_mrz, read_mrz_file

    try:
        if image is not None:
            reading: MRZReading = read_mrz_file(image)
        else:
            assert camera_url is not None
            device = camera_for_url(camera_url)
            device.expect("document")
            if not as_json:
                click.echo("hold the card up to the camera, its MRZ side facing it...", err=True)
            with device:
                frame = device.capture()
            reading = read_mrz(frame.pixels)
    except (DriverError, MRZError, ValueError) as exc:
        fail(exc, as_json)
    return reading.to_dict()


def _read_at_station(
    data_dir: Path | None, config_file: Path | None, operator: str | None
) -> dict[str, Any]:
    """The station's camera, through its API (the running server's, or the station opened
    here): the same workflow as the console's button, audited."""
    from station.commands.workflows import run

    if not operator:
        raise click.UsageError("--camera uses the station's camera: give --operator LOGIN")
    answer: dict[str, Any] = run(
        data_dir,
        config_file,
        operator,
        lambda client: client.call("POST", "/cards/mrz", fields={"capture": "true"}),
    )
    return answer


@card.command()
def readers() -> None:
    """List the PC/SC readers this machine sees."""
    try:
        names = card_reader_for_url("pcsc://").list_readers()
    except DriverError as exc:
        fail(exc, False)
    for name in names:
        click.echo(name)


@card.command()
@click.option("--mrz", help="MRZ of the simulated document (default: a Kyrgyz test ID card).")
@click.option(
    "--photo",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Face photo to put in DG2 (default: a drawn placeholder).",
)
@click.option("--jpeg2000", is_flag=True, help="Store the photo as JPEG 2000.")
@click.option(
    "--pace",
    "pace_curve",
    metavar="CURVE[:CIPHER]",
    help="Offer PACE in EF.CardAccess, e.g. brainpoolP256r1 or secp256r1:aes256.",
)
@click.option("--pace-only", is_flag=True, help="Refuse BAC (needs --pace).")
@click.option(
    "--csca-out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the test CSCA certificate into this folder (for `card read --csca`).",
)
@click.option(
    "--port", type=int, default=35963, show_default=True, help="vpcd port (35964: second reader)."
)
@click.option(
    "--seconds", type=float, default=0, help="Stop after this long (default: until Ctrl-C)."
)
def simulate(
    mrz: str | None,
    photo: Path | None,
    jpeg2000: bool,
    pace_curve: str | None,
    pace_only: bool,
    csca_out: Path | None,
    port: int,
    seconds: float,
) -> None:
    """Put the simulated chip on vpcd's virtual reader (pcscd with vsmartcard-vpcd must run)."""
    from urllib.parse import urlencode

    from drivers.idcard.sim import SimulatedCardReader
    from drivers.idcard.vpcd import VpcdCard

    options = {"format": "jpeg2000" if jpeg2000 else "jpeg"}
    if mrz:
        options["mrz"] = mrz.replace("\\n", "\n")
    if photo:
        options["photo"] = str(photo)
    if pace_curve:
        options["pace"] = pace_curve
    if pace_only:
        options["bac"] = "false"
    try:
        chip = SimulatedCardReader("sim://?" + urlencode(options)).chip
    except (DriverError, MRZError, ValueError, OSError) as exc:
        fail(exc, False)
    if csca_out is not None:
        click.echo(f"test CSCA written to {chip.document.pki.write_csca(csca_out)}", err=True)
    card_side = VpcdCard(chip, port=port).start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    m = chip.document.mrz
    click.echo(
        f"simulated chip on vpcd port {port}: read it with\n"
        f"  station card read --url pcsc:// --doc {m.document_number} --birth {m.birth_date} "
        f"--expiry {m.expiry_date}" + (f" --csca {csca_out}" if csca_out else ""),
        err=True,
    )
    try:
        deadline = time.monotonic() + seconds if seconds > 0 else None
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        card_side.stop()
