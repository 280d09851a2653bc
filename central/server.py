"""``central serve``: the centre's HTTPS API for the stations' uploads (and, in
:mod:`central.staff_api`, for its staff).

- ``GET /api/v1/health``: the centre's id (no personal data).
- ``POST /api/v1/packets``: one packet (the bytes a stick would carry), from a station signing its
  request (``Authorization: Station TOKEN``, :mod:`station.exchange.tokens`); the answer says what
  the centre did with it (``stored``, ``held``, ``applied``, ``not_applied``, ``already_had``) or
  why it refused it (422 ``packet_refused`` with the reason). Uploading the same packet again is
  harmless, so a station resumes after a dropped line by sending what it has not heard back on.
- ``GET /api/v1/acknowledgement``: the station's acknowledgement, sealed to its key, as on a stick.
- ``POST /api/v1/stations``: ``{"code", "document"}``, a station registering at first contact with
  an enrolment code (:mod:`central.invitations`); the answer carries the centre's identity.

TLS is built in (cheroot): a certificate made on first start under ``DATA/tls/`` unless one is
given; stations trust it with ``station sync --ca FILE``. Requests are served by a pool of
threads; work on the register is serialised (one connection), which the import's cost dominates.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import threading
from pathlib import Path
from typing import Any

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Flask, Response, jsonify, request

from central.centre import Centre
from central.intake import ImportResult, acknowledgement_bytes, import_packet
from central.invitations import InvitationError, join
from central.keys import identity_document
from central.staff import Staff
from central.staff_api import staff_blueprint
from central.stations import StationRegistryError
from station.exchange.envelope import MAX_PACKET_BYTES
from station.exchange.identity import IdentityError
from station.exchange.tokens import TokenError, check_token
from station.security.crypto import write_private_file
from station.security.passwords import KdfParams

log = logging.getLogger(__name__)

TLS_FOLDER = "tls"


def create_centre_app(centre: Centre, kdf: KdfParams | None = None) -> Flask:
    app = Flask("central")
    app.config["MAX_CONTENT_LENGTH"] = MAX_PACKET_BYTES
    work = threading.Lock()
    app.register_blueprint(staff_blueprint(centre, Staff(centre.register, kdf), work))

    def station_of_request() -> str:
        return check_token(
            request.headers.get("Authorization"),
            centre.keys.centre_id,
            centre.stations.key_for,
        )

    @app.errorhandler(TokenError)
    def refused_token(exc: TokenError) -> tuple[Response, int]:
        return jsonify(error="station_unauthorised", message=exc.reason), 401

    @app.errorhandler(413)
    def too_large(_: Any) -> tuple[Response, int]:
        limit = MAX_PACKET_BYTES // (1024 * 1024)
        return jsonify(error="packet_too_large", message=f"a packet is at most {limit} MiB"), 413

    @app.get("/api/v1/health")
    def health() -> Response:
        return jsonify(ok=True, centre=centre.keys.centre_id)

    @app.post("/api/v1/packets")
    def upload() -> tuple[Response, int]:
        with work:
            station_id = station_of_request()
            result = ImportResult()
            data = request.get_data(cache=False)
            signed_in, centre.actor = centre.actor, f"station:{station_id}"
            try:  # a kit may carry another kit's packets: each is judged by its own signature
                import_packet(centre, data, f"upload from {station_id}", result)
            finally:
                centre.actor = signed_in
        if result.rejected:
            refused = result.rejected[0]
            return (
                jsonify(error="packet_refused", packet=refused["packet"], reason=refused["reason"]),
                422,
            )
        packet_id, state, reason = result.last or ("", "stored", None)
        return jsonify(packet=packet_id, state=state, reason=reason), 200

    @app.post("/api/v1/stations")
    def join_with_code() -> tuple[Response, int]:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return jsonify(error="invalid_input", message="send {code, document} as JSON"), 400
        with work:
            claimed = (
                body.get("document", {}).get("station_id")
                if isinstance(body.get("document"), dict)
                else None
            )
            try:
                registered = join(
                    centre.register, str(body.get("code") or ""), body.get("document")
                )
            except (InvitationError, StationRegistryError, IdentityError) as exc:
                centre.audit.append(f"station:{claimed or '?'}", "station_join", outcome="refused")
                return jsonify(error="invitation_refused", message=str(exc)), 403
            centre.audit.append(
                f"station:{registered.station_id}",
                "station_add",
                target=registered.station_id,
                detail={"thumbprint": registered.thumbprint, "by": "enrolment_code"},
            )
            document = identity_document(centre.keys)
        return jsonify(station=registered.station_id, centre=document), 201

    @app.get("/api/v1/acknowledgement")
    def acknowledgement() -> Response:
        with work:
            station_id = station_of_request()
            data = acknowledgement_bytes(centre, station_id)
        return Response(data, mimetype="application/jose")

    return app


def tls_files(centre: Centre, host: str) -> tuple[Path, Path]:
    """The server's certificate and key: made once (ECDSA P-256, ten years, for ``host`` and
    localhost), kept in ``DATA/tls``; give the certificate to stations for ``--ca``."""
    folder = centre.data_dir / TLS_FOLDER
    cert, key = folder / "cert.pem", folder / "key.pem"
    if cert.is_file() and key.is_file():
        return cert, key
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, centre.keys.centre_id)])
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    for value in {host, "127.0.0.1"}:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(value)))
        except ValueError:
            names.append(x509.DNSName(value))
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    write_private_file(
        key,
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert, key


def make_server(
    centre: Centre,
    host: str,
    port: int,
    cert: Path | None = None,
    key: Path | None = None,
    threads: int = 8,
    kdf: KdfParams | None = None,
) -> wsgi.Server:
    """The HTTPS server, bound and ready for ``.start()`` (or ``prepare()`` + ``serve()``)."""
    if cert is None or key is None:
        cert, key = tls_files(centre, host)
    server = wsgi.Server((host, port), create_centre_app(centre, kdf), numthreads=threads)
    server.ssl_adapter = BuiltinSSLAdapter(str(cert), str(key))
    return server
