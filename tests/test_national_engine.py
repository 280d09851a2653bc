"""The national galleries on a real two-node Ray cluster started here (`ray start --head`, then a
second `ray start --address` with resources of its own): shards live on both nodes, a search
fanned out to every shard equals the single-process exact search, and a shard whose actor is
killed is started again and reloaded, and the search answers the same."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from central.engine.shard import GalleryShard, PersonTemplates
from matcher.fingerprint import FingerprintTemplate
from matcher.fingerprint.compact import FingerCodec
from tests.conftest import RAY_ENV
from tests.test_fingerprint_index import perturbed, random_finger

RAY = str(Path(sys.executable).with_name("ray"))
SHARDS = 4


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ray(env: dict[str, str], *args: str) -> None:
    done = subprocess.run([RAY, *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"ray {' '.join(args[:2])} failed: {done.stderr[-2000:]}")


@pytest.fixture(scope="module")
def two_node_cluster() -> Iterator[str]:
    """A head node and a second node on this machine, one CPU each, authenticated with a token
    of their own; the address to join."""
    import ray

    temp = Path(tempfile.mkdtemp(prefix="ray-"))
    env = {**os.environ, **RAY_ENV}
    port = _free_port()
    common = ["--num-cpus", "1", "--object-store-memory", "100000000", "--disable-usage-stats"]
    head = ["--head", "--port", str(port), "--temp-dir", str(temp), "--include-dashboard", "false"]
    address = f"127.0.0.1:{port}"
    try:
        _ray(env, "start", *head, "--resources", '{"head_node": 1}', *common)
        _ray(env, "start", "--address", address, "--resources", '{"second_node": 1}', *common)
        ray.init(address=address, log_to_driver=False)
        deadline = time.monotonic() + 60  # `ray start` returns before the node is listed alive
        while sum(bool(n.get("Alive")) for n in ray.nodes()) < 2:
            if time.monotonic() > deadline:
                raise RuntimeError("the second Ray node did not join within 60 s")
            time.sleep(0.2)
        yield address
    finally:
        ray.shutdown()
        _stop_cluster(temp)
        shutil.rmtree(temp, ignore_errors=True)


def _stop_cluster(temp: Path) -> None:
    """Kill this cluster's processes (those naming its temp dir), not every Ray of the machine
    as `ray stop` would."""
    processes = [p for p in Path("/proc").iterdir() if p.name.isdigit()]
    mine = [int(p.name) for p in processes if str(temp).encode() in _read(p / "cmdline")]
    parent = {int(p.name): _parent(p) for p in processes}
    grown = True
    while grown:  # and their children: the agents a raylet starts rename themselves
        more = [pid for pid, ppid in parent.items() if ppid in mine and pid not in mine]
        mine += more
        grown = bool(more)
    for pid in mine:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while mine and time.monotonic() < deadline:
        mine = [pid for pid in mine if Path(f"/proc/{pid}").exists() and not _zombie(pid)]
        time.sleep(0.1)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _parent(proc: Path) -> int:
    try:
        return int(_read(proc / "stat").rsplit(b") ", 1)[1].split()[1])
    except (IndexError, ValueError):
        return 0


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except (OSError, IndexError):
        return True


@pytest.fixture(scope="module")
def persons(lfw_templates: tuple[np.ndarray, list[str]]) -> list[PersonTemplates]:
    """40 real faces and 160 synthetic ones, two synthetic fingers each."""
    rng = np.random.default_rng(19)
    faces = list(lfw_templates[0])
    for _ in range(160):
        vector = rng.normal(size=faces[0].shape).astype(np.float32)
        faces.append(vector / np.linalg.norm(vector))
    return [
        PersonTemplates(
            person_id,
            np.asarray(face, np.float32),
            {2: random_finger(rng).to_bytes(), 7: random_finger(rng).to_bytes()},
        )
        for person_id, face in enumerate(faces, start=1)
    ]


@pytest.fixture(scope="module")
def codec(persons: list[PersonTemplates]) -> bytes:
    from central.engine.national import train_codec

    return train_codec(persons)


@pytest.fixture(scope="module")
def coded(persons: list[PersonTemplates], codec: bytes) -> list[PersonTemplates]:
    """``persons`` with their finger codes, as the register stores them: compact shards given
    them prepare nothing to load."""
    made = FingerCodec.from_bytes(codec)
    return [
        replace(
            p,
            codes={q: made.code(FingerprintTemplate.from_bytes(d)) for q, d in p.fingers.items()},
        )
        for p in persons
    ]


def test_shards_on_both_nodes_answer_as_one_gallery_and_survive_a_killed_actor(
    two_node_cluster: str, persons: list[PersonTemplates]
) -> None:
    import ray

    from central.engine.national import NationalGallery

    def loader(shard: int, shards: int) -> list[PersonTemplates]:
        return [p for p in persons if p.person_id % shards == shard]

    single = GalleryShard(0, 1)
    single.add(persons)
    national = NationalGallery(SHARDS, loader)
    try:
        placed = national.describe()
        assert sum(int(d["faces"]) for d in placed) == len(persons)
        assert len({d["node"] for d in placed}) == 2  # the shards live on both nodes

        rng = np.random.default_rng(5)
        probes = np.stack([p.face for p in persons[:12] if p.face is not None])
        probes = probes + rng.normal(0, 0.02, probes.shape).astype(np.float32)
        expected = single.search_face(probes, 5)
        got = national.search_face(probes, 5)
        assert np.array_equal(got[1], expected[1]) and np.allclose(got[0], expected[0])

        mate = persons[33]
        probe = {2: perturbed(FingerprintTemplate.from_bytes(mate.fingers[2]), rng).to_bytes()}
        single_hits = single.search_fingers(probe, 5, exhaustive=True)
        national_hits = national.search_fingers(probe, 5, exhaustive=True)
        assert [h.person_id for h in national_hits] == [h.person_id for h in single_hits]
        assert national_hits[0].person_id == mate.person_id

        one_call = national.candidates(mate.face, probe)  # every shard's, scored on both
        found = {c[0] for c in one_call}
        assert mate.face is not None
        assert set(single.search_face(mate.face[None, :], 10)[1][0].tolist()) <= found
        strong = {  # fingers that match: within every shard's share of the shortlist
            c[0] for c in single.candidates(mate.face, probe) if max(c[2].values(), default=0) > 0.2
        }
        assert mate.person_id in strong and strong <= found
        scored = {c[0]: c for c in one_call}[mate.person_id]
        assert scored[1] is not None and scored[1] < 0.5 and scored[2][2] > 0.2

        ray.kill(national.shards[1], no_restart=True)  # a node's actor lost
        again = national.search_face(probes, 5)
        assert np.array_equal(again[1], expected[1])  # reloaded from the register's loader
        assert sum(int(d["faces"]) for d in national.describe()) == len(persons)

        extra = PersonTemplates(10_001, persons[0].face, {})
        assert national.add([extra]) == 1 and national.remove([10_001]) == 1
    finally:
        national.close()


def test_compact_shards_sharing_one_codec_answer_as_one_compact_gallery(
    two_node_cluster: str, coded: list[PersonTemplates], codec: bytes
) -> None:
    from central.engine.national import NationalGallery

    persons = coded

    def loader(shard: int, shards: int) -> list[PersonTemplates]:
        return [p for p in persons if p.person_id % shards == shard]

    single = GalleryShard(0, 1, codec=codec)
    single.add(persons)
    national = NationalGallery(SHARDS, loader, codec=codec)
    try:
        placed = national.describe()
        assert {d["finger_index"] for d in placed} == {"compact"}
        assert sum(int(d["finger_records"]) for d in placed) == len(persons)
        rng = np.random.default_rng(8)
        mate = persons[71]
        probe = {
            p: perturbed(FingerprintTemplate.from_bytes(d), rng).to_bytes()
            for p, d in mate.fingers.items()
        }
        single_hits = single.search_fingers(probe, 5, exhaustive=True)
        national_hits = national.search_fingers(probe, 5, exhaustive=True)
        assert [h.person_id for h in national_hits] == [h.person_id for h in single_hits]
        assert national_hits[0].person_id == mate.person_id
        scored = {c[0]: c for c in national.candidates(mate.face, probe)}[mate.person_id]
        assert scored[2] == pytest.approx(national_hits[0].finger_scores)
    finally:
        national.close()


def test_enrolments_queued_on_the_shards_get_the_answers_asked_one_at_a_time_across_a_lost_shard(
    two_node_cluster: str, persons: list[PersonTemplates], caplog: pytest.LogCaptureFixture
) -> None:
    import ray

    from central.engine.national import NationalGallery

    def loader(shard: int, shards: int) -> list[PersonTemplates]:
        return [p for p in persons if p.person_id % shards == shard]

    rng = np.random.default_rng(12)
    asked: list[tuple[Any, dict[int, bytes]]] = []
    for mate in persons[20:28]:
        assert mate.face is not None
        face = mate.face + rng.normal(0, 0.02, mate.face.shape).astype(np.float32)
        finger = perturbed(FingerprintTemplate.from_bytes(mate.fingers[7]), rng)
        asked.append((face, {7: finger.to_bytes()}))
    asked += [(None, asked[0][1]), (asked[1][0], {})]  # no face; no fingers
    national = NationalGallery(SHARDS, loader)
    try:
        one_at_a_time = [national.candidates(face, probe) for face, probe in asked]
        queued = [national.submit_candidates(face, probe) for face, probe in asked[:5]]
        ray.kill(national.shards[1], no_restart=True)  # lost with enrolments queued on it
        queued += [national.submit_candidates(face, probe) for face, probe in asked[5:]]
        with caplog.at_level("WARNING", logger="central.engine.national"):
            answers = [national.collect(pending) for pending in queued]
        assert answers == one_at_a_time
        assert [r.getMessage() for r in caplog.records].count(
            "shard 1 was lost: starting it again and reloading it"
        ) == 1  # reloaded once, not once per enrolment queued on it
        assert sum(int(d["faces"]) for d in national.describe()) == len(persons)
        assert {c[0] for c in answers[3]} >= {persons[23].person_id}
    finally:
        national.close()


def test_a_shard_loads_its_persons_templates_from_the_register(
    centre: Any, persons: list[PersonTemplates]
) -> None:
    from central.engine.loader import register_templates
    from matcher.face.templates import template_to_bytes

    register = centre.register
    register.add_station("kit-1", {"kty": "OKP"}, {"kty": "OKP"}, "thumb")
    for n, person in enumerate(persons[:6], start=1):
        register.add_packet(
            f"p-{n}", "kit-1", "enrollment", "voter_registration", "stored", "0" * 64
        )
        person_id = register.add_person(
            register="voter_registration",
            station_id="kit-1",
            station_record=n,
            packet_id=f"p-{n}",
            precinct="P-1",
            status="held" if n == 6 else "queued",  # held for review: not searchable yet
            status_reason=None,
            fields={"name": f"Person {n}"},
            enrolled_at=None,
        )
        assert person.face is not None
        register.put_template(
            person_id, "face", None, "face-sface128/1", 0.9, template_to_bytes(person.face)
        )
        register.put_template(person_id, "finger", 2, "finger-leader-mcc/1", 60, person.fingers[2])
    loaded = [
        list(register_templates(register, "voter_registration", "face-sface128/1", shard, 2))
        for shard in range(2)
    ]
    assert sorted(p.person_id for shard in loaded for p in shard) == [1, 2, 3, 4, 5]
    assert all(p.person_id % 2 == shard for shard, got in enumerate(loaded) for p in got)
    first = next(p for p in loaded[1] if p.person_id == 1)
    assert first.face is not None and np.allclose(first.face, persons[0].face)
    assert list(first.fingers) == [2]
    assert list(register_templates(register, "another_purpose", "face-sface128/1", 0, 1)) == []


def _register_persons(
    centre: Any, persons: list[PersonTemplates], status: str = "registered", first: int = 1
) -> None:
    from matcher.face.templates import template_to_bytes

    register = centre.register
    if first == 1:
        register.add_station("kit-9", {"kty": "OKP"}, {"kty": "OKP"}, "thumb")
    for n, person in enumerate(persons, start=first):
        register.add_packet(f"q-{n}", "kit-9", "enrollment", "voter_registration", "stored", "0")
        person_id = register.add_person(
            register="voter_registration",
            station_id="kit-9",
            station_record=n,
            packet_id=f"q-{n}",
            precinct="P-1",
            status=status,
            status_reason=None,
            fields={"name": f"Person {n}"},
            enrolled_at=None,
        )
        assert person.face is not None
        register.put_template(
            person_id, "face", None, "face-sface128/1", 0.9, template_to_bytes(person.face)
        )
        for position, data in person.fingers.items():
            register.put_template(person_id, "finger", position, "finger-leader-mcc/1", 60, data)


def test_the_finger_codec_and_codes_are_kept_in_the_register_so_a_reload_prepares_nothing(
    two_node_cluster: str,
    centre: Any,
    persons: list[PersonTemplates],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from central.dedup import deduplicate, finger_codec, national_loader
    from central.engine.loader import store_codes
    from central.engine.national import NationalGallery
    from matcher.fingerprint import compact, mcc

    _register_persons(centre, persons[:12])
    codec = finger_codec(centre, "voter_registration")
    assert codec is not None and finger_codec(centre, "voter_registration") == codec  # kept
    loader = national_loader(centre, "voter_registration", "sface", codec)
    assert all(not p.codes for p in loader(0, 1))  # nothing stored yet
    national = NationalGallery(
        2, loader, codec=codec, on_codes=store_codes(centre.register, codec)
    )  # the shards make the codes, the register keeps them
    try:
        rng = np.random.default_rng(9)
        mate = next(p for p in loader(0, 1) if p.person_id == 4)
        probe = {
            p: perturbed(FingerprintTemplate.from_bytes(d), rng).to_bytes()
            for p, d in mate.fingers.items()
        }
        expected = [(h.person_id, h.score) for h in national.search_fingers(probe, 3)]

        again = PersonTemplates(-1, mate.face, probe)  # person 4 enrolled a second time
        newcomer = persons[40]  # nobody registered
        _register_persons(centre, [again, newcomer], status="queued", first=13)
        decided = deduplicate(centre, national)
        assert (decided.checked, decided.registered) == (2, 1)
        assert [c["person"] for c in decided.to_review[0]["candidates"]] == [4]
    finally:
        national.close()
    assert set(next(p for p in loader(0, 1) if p.person_id == 14).codes) == {2, 7}  # kept

    stored = [p for p in loader(0, 1) if p.person_id <= 12]
    made = compact.FingerCodec.from_bytes(codec)
    assert len(stored) == 12 and all(set(p.codes) == set(p.fingers) for p in stored)
    assert all(
        p.codes[q] == made.code(FingerprintTemplate.from_bytes(p.fingers[q]))
        for p in stored
        for q in p.fingers
    )
    calls: list[int] = []
    real_prepare = mcc.prepare

    def counted_prepare(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real_prepare(*args, **kwargs)

    monkeypatch.setattr(mcc, "prepare", counted_prepare)
    reloaded = GalleryShard(0, 1, codec=codec)
    reloaded.add(stored)
    assert calls == []  # loaded from the stored codes
    again = [(h.person_id, h.score) for h in reloaded.search_fingers(probe, 3)]
    assert [i for i, _ in again] == [i for i, _ in expected] and again[0][0] == 4
    assert [s for _, s in again] == pytest.approx([s for _, s in expected])


def test_a_shard_re_ranks_its_expected_share_of_the_shortlist_plus_one_deviation() -> None:
    assert GalleryShard(0, 1).shortlist() == 100
    assert [GalleryShard(0, n).shortlist() for n in (2, 4, 8)] == [55, 30, 16]


@pytest.mark.parametrize("compact", [False, True], ids=["full", "compact"])
def test_a_shards_candidates_carry_the_scores_it_would_compute_from_scratch(
    persons: list[PersonTemplates], coded: list[PersonTemplates], codec: bytes, compact: bool
) -> None:
    shard = GalleryShard(0, 1, codec=codec if compact else None)
    shard.add(coded if compact else persons)
    rng = np.random.default_rng(4)
    mate = persons[17]
    probe = {
        p: perturbed(FingerprintTemplate.from_bytes(d), rng).to_bytes()
        for p, d in mate.fingers.items()
    }
    found = shard.candidates(mate.face, probe)  # the finger search's scores reused
    again = shard.score([c[0] for c in found], mate.face, probe)  # every score computed anew
    assert [c[0] for c in found] == [c[0] for c in again]
    for (_, distance, fingers), (_, distance_again, fingers_again) in zip(
        found, again, strict=True
    ):
        assert distance == distance_again and fingers == pytest.approx(fingers_again)
    assert mate.person_id in {c[0] for c in found}


def test_the_global_face_top_k_is_what_a_shard_scores_when_given_it(
    persons: list[PersonTemplates],
) -> None:
    shard = GalleryShard(1, 2)
    shard.add([p for p in persons if shard.owns(p.person_id)])
    mate = persons[8]
    assert mate.face is not None
    theirs = [p.person_id for p in persons[:6] if not shard.owns(p.person_id)]
    ours = [p.person_id for p in persons[:6] if shard.owns(p.person_id)]
    scored = shard.candidates(mate.face, {}, face_ids=theirs + ours)
    assert sorted(c[0] for c in scored) == sorted(ours)  # only the persons it holds


def test_compact_shards_share_out_the_whole_gallerys_shortlist_exactly_and_find_the_mate(
    coded: list[PersonTemplates], codec: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matcher.fingerprint.compact import CompactFingerprintGallery, merge_votes

    persons = coded
    shards = [GalleryShard(i, 2, codec=codec) for i in range(2)]
    for shard in shards:
        shard.add([p for p in persons if shard.owns(p.person_id)])
    rng = np.random.default_rng(21)
    mate = persons[52]
    probe = {
        p: perturbed(FingerprintTemplate.from_bytes(d), rng).to_bytes()
        for p, d in mate.fingers.items()
    }
    firsts = [shard.first_step(mate.face, probe, 10) for shard in shards]
    whole = merge_votes(f.votes for f in firsts if f.votes is not None)

    reranked: list[set[tuple[str, int, int]]] = []
    real_rerank = CompactFingerprintGallery.rerank

    def spied(self: Any, expanded: Any, chosen: Any, limit: int = 10) -> Any:
        reranked.append({(v.record_id, v.position, p) for p, vs in chosen.items() for v in vs})
        return real_rerank(self, expanded, chosen, limit)

    monkeypatch.setattr(CompactFingerprintGallery, "rerank", spied)
    found = [
        c for shard in shards for c in shard.candidates_after(mate.face, probe, 10, 10, *firsts)
    ]
    ours, theirs = reranked
    assert not ours & theirs  # each finger of the shortlist re-ranked by one shard only...
    assert ours | theirs == {(v.record_id, v.position, p) for p, vs in whole.items() for v in vs}
    scored = {c[0]: c for c in found}[mate.person_id]  # ...the one holding it
    assert scored[1] is not None and scored[1] < 0.5 and min(scored[2].values()) > 0.2


def test_a_shard_counts_the_time_its_searches_take_on_and_off_a_core(
    persons: list[PersonTemplates],
) -> None:
    shard = GalleryShard(0, 1)
    shard.add(persons[:40])
    shard.search_face(np.stack([p.face for p in persons[:2] if p.face is not None]), 3)
    assert shard.describe()["searches"] == 0  # only the two steps of an enrolment count
    mate = persons[3]
    probe = {
        7: perturbed(
            FingerprintTemplate.from_bytes(mate.fingers[7]), np.random.default_rng(2)
        ).to_bytes()
    }
    first = shard.first_step(mate.face, probe, 5)
    assert mate.person_id in {c[0] for c in shard.candidates_after(mate.face, probe, 5, 5, first)}
    described = shard.describe()
    assert described["searches"] == 2
    wall, cpu = float(described["search_wall_s"]), float(described["search_cpu_s"])  # type: ignore[arg-type]
    # preparing the probe finger takes a core, and a core's time is never more than the clock's
    assert 0 < cpu <= wall + 1e-3
