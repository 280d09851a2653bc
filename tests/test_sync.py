"""Packets over the network: a station sends what the centre has not taken to `central serve`
over HTTPS, signing each request with its key; a dropped line or a centre out of reach loses
nothing, and the next sync sends only what was not answered."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest
from jwcrypto import jwk

from central.centre import Centre
from central.server import make_server, tls_files
from station.core import Station
from station.errors import StationError
from station.exchange.tokens import TokenError, check_token, station_token
from station.workflows.exchange import station_identity, trust_centre_keys
from station.workflows.packets import packet_status
from station.workflows.sync import sync_packets
from tests.conftest import enroll_face, make_settings, photos_of


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Serving:
    """`central serve` in a thread of the test, on a port of its own."""

    def __init__(self, centre: Centre, port: int) -> None:
        self.server = make_server(centre, "127.0.0.1", port)
        self.url = f"https://127.0.0.1:{port}"
        self.cert = tls_files(centre, "127.0.0.1")[0]
        self.server.prepare()
        self.thread = threading.Thread(target=self.server.serve, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.stop()
        self.thread.join(timeout=10)


def station_for(tmp_path: Path, centre: Centre, people: list[Path], name: str) -> Station:
    station = Station(make_settings(tmp_path / name, station_id=name)).open()
    for person in people:
        enroll_face(station, photos_of(person)[0], person.name.replace("_", " "))
    trust_centre_keys(station, tmp_path / "centre.json")
    (tmp_path / f"{name}.json").write_text(json.dumps(station_identity(station)))
    centre.stations.add(tmp_path / f"{name}.json")
    return station


def test_a_station_syncs_its_packets_over_https_and_the_next_sync_sends_nothing(
    tmp_path: Path, lfw_people: list[Path], centre: Centre
) -> None:
    station = station_for(tmp_path, centre, lfw_people[60:63], "kit-net")
    serving = Serving(centre, free_port())
    try:
        first = sync_packets(station, serving.url, serving.cert)
        assert (first.sent, first.acknowledged, first.rejected, first.stopped) == (3, 3, [], None)
        assert packet_status(station)["counts"] == {"acknowledged": 3}
        again = sync_packets(station, serving.url, serving.cert)
        assert (again.sent, again.stopped) == (0, None)
        assert "packets_sync" in [r["action"] for r in station.audit.rows(limit=100)]
    finally:
        serving.stop()
        station.close()
    assert centre.register.counts()["persons"] == {"voter_registration": {"queued": 3}}


def test_a_centre_out_of_reach_stops_the_sync_and_the_next_one_resumes(
    tmp_path: Path, lfw_people: list[Path], centre: Centre
) -> None:
    station = station_for(tmp_path, centre, lfw_people[63:65], "kit-village")
    port = free_port()
    try:
        cert = tls_files(centre, "127.0.0.1")[0]
        started = time.perf_counter()
        down = sync_packets(station, f"https://127.0.0.1:{port}", cert, attempts=3, backoff=0.05)
        assert down.sent == 0 and down.stopped and "did not answer after 3 attempts" in down.stopped
        assert time.perf_counter() - started >= 0.15  # backed off 0.05 s, then 0.1 s
        assert packet_status(station)["counts"] == {"pending": 2}  # nothing lost
        serving = Serving(centre, port)
        try:
            wrong_ca = sync_packets(
                station, serving.url, None, attempts=1
            )  # the system's CAs do not know the centre's own certificate
            assert wrong_ca.sent == 0 and "CERTIFICATE_VERIFY_FAILED" in str(wrong_ca.stopped)
            resumed = sync_packets(station, serving.url, cert)
            assert (resumed.sent, resumed.acknowledged) == (2, 2)
        finally:
            serving.stop()
    finally:
        station.close()


def test_a_revoked_station_is_turned_away_and_keeps_its_packets(
    tmp_path: Path, lfw_people: list[Path], centre: Centre
) -> None:
    station = station_for(tmp_path, centre, lfw_people[65:66], "kit-stolen")
    centre.stations.revoke("kit-stolen")
    serving = Serving(centre, free_port())
    try:
        refused = sync_packets(station, serving.url, serving.cert, attempts=1)
        assert refused.stopped and "refuses this station" in refused.stopped
        assert "revoked" in refused.stopped
        assert packet_status(station)["counts"] == {"pending": 1}
        with pytest.raises(StationError, match="https://"):
            sync_packets(station, serving.url.replace("https", "http"), serving.cert)
    finally:
        serving.stop()
        station.close()


def test_a_station_token_proves_its_station_for_one_centre_for_minutes() -> None:
    key = jwk.JWK.generate(kty="OKP", crv="Ed25519")
    keys = {"kit-1": key}.get
    token = station_token("kit-1", key, "centre-a")
    assert check_token(f"Station {token}", "centre-a", keys) == "kit-1"
    with pytest.raises(TokenError, match="another centre"):
        check_token(f"Station {token}", "centre-b", keys)
    with pytest.raises(TokenError, match="too old"):
        check_token(f"Station {token}", "centre-a", keys, now=time.time() + 3600)
    with pytest.raises(TokenError, match="not signed by station kit-1"):
        check_token(
            f"Station {token}",
            "centre-a",
            {"kit-1": jwk.JWK.generate(kty="OKP", crv="Ed25519")}.get,
        )
    with pytest.raises(TokenError, match="sign the request"):
        check_token(None, "centre-a", keys)
    with pytest.raises(TokenError, match="not a JWS"):
        check_token("Station nonsense", "centre-a", keys)


def test_a_station_joins_at_first_contact_with_a_one_time_enrolment_code(
    tmp_path: Path, lfw_people: list[Path], centre: Centre
) -> None:
    from central.invitations import invite
    from station.workflows.sync import join_centre

    code = invite(centre.register, "registrar", hours=1)
    serving = Serving(centre, free_port())
    station = Station(make_settings(tmp_path / "kit-new", station_id="kit-new")).open()
    other = Station(make_settings(tmp_path / "kit-late", station_id="kit-late")).open()
    try:
        with pytest.raises(StationError, match="not one the centre made"):
            join_centre(station, serving.url, "ABCDE-FGHJK", serving.cert)
        trusted = join_centre(station, serving.url, code.lower(), serving.cert)  # typed loosely
        assert trusted.centre_id == centre.keys.centre_id
        assert centre.stations.key_for("kit-new") is not None
        with pytest.raises(StationError, match="used already"):
            join_centre(other, serving.url, code, serving.cert)
        enroll_face(station, photos_of(lfw_people[66])[0], "First Voter")
        sent = sync_packets(station, serving.url, serving.cert)  # trusted both ways now
        assert (sent.sent, sent.acknowledged) == (1, 1)
    finally:
        serving.stop()
        station.close()
        other.close()
    actions = {(r["actor"], r["action"]) for r in centre.audit.rows(limit=50)}
    assert ("station:kit-new", "station_add") in actions
    assert ("station:kit-late", "station_join") in actions  # the refused try, audited
