"""The key exchange and the packet envelope: a station's packets open only at the centre they were
encrypted to, only with the key of the station that signed them, and anything changed is refused
with the reason the centre records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from jwcrypto import jwk

from central.centre import Centre
from central.keys import centre_keys
from central.keys import identity_document as centre_document
from central.stations import StationRegistryError
from station.core import Station
from station.exchange.envelope import PacketError, open_packet, seal_packet
from station.exchange.identity import IdentityError, trusted_centre
from station.workflows.exchange import station_identity, trust_centre_keys
from tests.conftest import central_env, make_settings


def ed25519() -> jwk.JWK:
    return jwk.JWK.generate(kty="OKP", crv="Ed25519")


def x25519() -> jwk.JWK:
    return jwk.JWK.generate(kty="OKP", crv="X25519")


def test_a_sealed_packet_opens_at_its_centre_with_its_station_key() -> None:
    station, centre = ed25519(), x25519()
    payload = b'{"record": 1}' + os.urandom(200_000)  # images make packets large
    packet_id, data = seal_packet(
        payload, kind="enrollment", sender_id="kit-0001", signing_key=station, recipient_key=centre
    )
    assert payload[:13] not in data  # encrypted: nothing readable on the stick
    opened = open_packet(data, recipient_key=centre, sender_key={"kit-0001": station}.get)
    assert (opened.packet_id, opened.sender_id, opened.kind) == (
        packet_id,
        "kit-0001",
        "enrollment",
    )
    assert opened.payload == payload and opened.manifest_version == 1


def test_every_kind_of_bad_packet_is_refused_with_its_reason() -> None:
    station, centre = ed25519(), x25519()
    _, data = seal_packet(
        b"payload",
        kind="enrollment",
        sender_id="kit-0001",
        signing_key=station,
        recipient_key=centre,
    )
    keys = {"kit-0001": station}.get

    def reason(packet: bytes, **changes: object) -> str:
        arguments: dict = {"recipient_key": centre, "sender_key": keys, **changes}
        with pytest.raises(PacketError) as refused:
            open_packet(packet, **arguments)
        return refused.value.reason

    # One character changed in the ciphertext: the authenticated encryption fails.
    parts = data.split(b".")
    body = bytearray(parts[3])
    body[10] = ord("A") if body[10] != ord("A") else ord("B")
    tampered = b".".join([*parts[:3], bytes(body), parts[4]])
    assert "does not decrypt" in reason(tampered)
    assert "another recipient" in reason(data, recipient_key=x25519())
    assert "not registered" in reason(data, sender_key={}.get)
    assert "signature of station kit-0001 does not hold" in reason(
        data, sender_key={"kit-0001": ed25519()}.get
    )
    assert "not a packet" in reason(b"\xff\xfe not even text")
    assert "not a packet" in reason(b"a.b.c")


def test_a_packet_signed_by_one_station_cannot_claim_another() -> None:
    thief, victim, centre = ed25519(), ed25519(), x25519()
    _, forged = seal_packet(
        b"x", kind="deletion", sender_id="kit-0002", signing_key=thief, recipient_key=centre
    )
    with pytest.raises(PacketError, match="signature of station kit-0002"):
        open_packet(forged, recipient_key=centre, sender_key={"kit-0002": victim}.get)


def test_the_station_and_the_centre_exchange_identities_by_file(
    tmp_path: Path, centre_db: str
) -> None:
    centre_dir = tmp_path / "centre"
    keys = centre_keys(centre_dir)
    assert centre_keys(centre_dir).centre_id == keys.centre_id  # made once, then kept
    assert oct((centre_dir / "keys" / "centre-keys.json").stat().st_mode & 0o777) == "0o600"
    centre_file = tmp_path / "centre.json"
    centre_file.write_text(json.dumps(centre_document(keys)))
    assert '"d"' not in centre_file.read_text()  # public keys only

    with Station(make_settings(tmp_path / "station")) as station:
        assert trusted_centre(station.settings.data_dir) is None  # enrols anyway; packets wait
        document = station_identity(station)
        assert station_identity(station)["thumbprint"] == document["thumbprint"]  # one key
        trusted = trust_centre_keys(station, centre_file)
        assert trusted.centre_id == keys.centre_id
        actions = [r["action"] for r in station.audit.rows(limit=1000)]
        assert actions.count("identity_export") == 2 and "centre_trust" in actions
        assert "d" not in document["signing_key"]
    station_file = tmp_path / "station-id.json"
    station_file.write_text(json.dumps(document))

    with Centre(centre_dir, centre_db) as centre:
        registry = centre.stations
        registered = registry.add(station_file)
        assert registry.add(station_file) == registered  # the same document: nothing changes
        assert registry.key_for("test-station") is not None
        assert registry.encryption_key_for("test-station")["crv"] == "X25519"
        registry.revoke("test-station")
        assert registry.key_for("test-station") is None  # its packets are refused from now on
        with pytest.raises(StationRegistryError, match="revoked"):
            registry.add(station_file)


def test_the_station_key_survives_a_restart_and_is_sealed_in_the_database(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "station")
    with Station(settings) as station:
        first = station_identity(station)["thumbprint"]
    raw = settings.database_path.read_bytes()
    assert b'"d":' not in raw and b"Ed25519" not in raw  # the private key is sealed
    with Station(settings) as station:
        assert station_identity(station)["thumbprint"] == first


def test_documents_that_are_not_identities_or_carry_a_private_key_are_refused(
    tmp_path: Path,
) -> None:
    with Station(make_settings(tmp_path / "station")) as station:
        not_json = tmp_path / "a.json"
        not_json.write_text("{nope")
        with pytest.raises(IdentityError, match="not a readable identity document"):
            trust_centre_keys(station, not_json)
        keys = centre_keys(tmp_path / "centre")
        leaked = centre_document(keys) | {
            "encryption_key": json.loads(keys.encryption_key.export_private())
        }
        leaky = tmp_path / "leaky.json"
        leaky.write_text(json.dumps(leaked))
        with pytest.raises(IdentityError, match="private key"):
            trust_centre_keys(station, leaky)


def test_the_central_commands_register_and_revoke_stations(tmp_path: Path, centre_db: str) -> None:
    env = central_env(tmp_path / "centre", centre_db)

    def central(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "central", *args], env=env, capture_output=True, text=True
        )

    assert central("identity", "--out", str(tmp_path / "centre.json")).returncode == 0
    with Station(make_settings(tmp_path / "station")) as station:
        (tmp_path / "station.json").write_text(json.dumps(station_identity(station)))
    added = central("stations", "add", str(tmp_path / "station.json"))
    assert added.returncode == 0 and "test-station registered" in added.stdout
    assert central("stations", "revoke", "test-station").returncode == 0
    listed = json.loads(central("stations", "list", "--json").stdout)
    assert listed["stations"][0]["station_id"] == "test-station"
    assert listed["stations"][0]["revoked"]
    again = central("stations", "add", str(tmp_path / "station.json"))
    assert again.returncode == 1 and "revoked" in again.stderr
    missing = central("stations", "revoke", "kit-9999")
    assert missing.returncode == 1 and "no station kit-9999" in missing.stderr


def test_the_station_commands_write_its_identity_and_trust_a_centre_for_an_admin(
    tmp_path: Path,
) -> None:
    from station.security.roles import SYSTEM
    from tests.test_cli import PASSWORD, invoke, station_env

    settings = make_settings(tmp_path / "data", key_file=tmp_path / "station.key")
    with Station(settings) as station:
        station.operators.create(SYSTEM, "boss", "admin", PASSWORD)
        station.operators.create(SYSTEM, "clerk", "operator", PASSWORD)
    centre_file = tmp_path / "centre.json"
    centre_file.write_text(json.dumps(centre_document(centre_keys(tmp_path / "centre"))))
    admin, clerk = station_env(tmp_path, "boss"), station_env(tmp_path, "clerk")
    out = tmp_path / "identity.json"
    written = invoke(admin, "identity", "--out", str(out))
    assert written.exit_code == 0, written.output
    assert json.loads(out.read_text())["format"] == "biometric-station-identity"
    trusted = invoke(admin, "centre", "trust", str(centre_file))
    assert trusted.exit_code == 0 and "trusted" in trusted.output
    refused = invoke(clerk, "identity", "--out", str(tmp_path / "no.json"))
    assert refused.exit_code != 0 and not (tmp_path / "no.json").exists()


def test_a_key_rotation_reseals_the_signing_key(tmp_path: Path) -> None:
    from station.workflows.maintenance import rotate_key

    settings = make_settings(tmp_path / "station")
    with Station(settings) as station:
        before = station_identity(station)["thumbprint"]
        rotate_key(station)
    with Station(settings) as station:
        assert station_identity(station)["thumbprint"] == before
