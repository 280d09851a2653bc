"""The national galleries as Ray actors: ``shards`` of :class:`GalleryShard`, spread over the
cluster's nodes in turn, each owning the persons whose id falls to it (``person_id % shards``).

A search goes to every shard at once and the answers are merged by their exact scores, so the
result equals one gallery's holding everyone (tested against the single-process search). Adding
and removing go to the owning shard. A shard whose actor dies (its node lost, a crash) is made
again and loaded again from the register through ``loader`` (nothing lives only in an actor), and
the call is retried once.

Runs on a local Ray started here by default, or joins a cluster with ``address``
(``--ray-address``); connections are authenticated with the centre's token
(:mod:`central.engine.auth`).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import ray
from numpy.typing import NDArray
from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError, RayError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from central.engine.shard import FingerHit, GalleryShard, PersonTemplates, Scored, nearest_of
from matcher.fingerprint import FingerprintTemplate
from matcher.fingerprint.compact import FingerCodec

log = logging.getLogger(__name__)

Loader = Callable[[int, int], Iterable[PersonTemplates]]  # (shard, shards) -> its persons
CodesSink = Callable[[dict[int, dict[int, bytes]]], None]  # person -> position -> codes
LOST = (RayActorError, ActorDiedError, ActorUnavailableError)
ADD_BATCH = 2_000
IN_FLIGHT = 2


def start_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Join the cluster at ``address``, or start a local Ray (once per process), authenticated
    as :func:`central.engine.auth.use_token` set before Ray was imported."""
    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    else:
        ray.init(
            num_cpus=num_cpus,
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=False,
        )


def train_codec(persons: Iterable[PersonTemplates], sample: int = 200_000) -> bytes:
    """The finger codec every shard shares, trained on the first ``sample`` cylinders of
    ``persons``' fingers (about 8,000 fingers, 10 s)."""
    fingers = (
        FingerprintTemplate.from_bytes(data)
        for person in persons
        for data in person.fingers.values()
    )
    return FingerCodec.train(fingers, sample=sample).to_bytes()


@dataclass(frozen=True)
class PendingCandidates:
    """One enrolment's candidates on their way (:meth:`NationalGallery.submit_candidates`)."""

    shards: list[Any]  # the actors asked
    calls: list[Any]  # their answers' object refs
    args: tuple[Any, ...]  # to ask again


def _alive(actor: Any) -> bool:
    """Whether ``actor`` still answers (a lost one raises at once; a live one answers after
    the calls queued on it)."""
    try:
        ray.get(actor.describe.remote())
    except LOST:
        return False
    return True


class NationalGallery:
    """Shards as actors; search, add, remove; a lost shard reloaded."""

    def __init__(
        self,
        shards: int,
        loader: Loader,
        *,
        spread: bool = True,
        codec: bytes | None = None,
        on_codes: CodesSink | None = None,
    ) -> None:
        """``codec``: the finger codec all shards share (:class:`GalleryShard`), or None;
        ``on_codes`` is given the codes a shard made for loaded persons that came without them
        (the register stores them: the next load prepares nothing)."""
        if shards < 1:
            raise ValueError("at least one shard")
        self.count = shards
        self.loader = loader
        self.spread = spread
        self.codec = codec
        self.on_codes = on_codes
        self._actor = ray.remote(num_cpus=0)(GalleryShard)
        self.shards: list[Any] = [self._start(i) for i in range(shards)]
        self._load(*range(shards))

    def _start(self, index: int) -> Any:
        options: dict[str, Any] = {"max_restarts": 0}
        if self.spread:
            options["scheduling_strategy"] = self._placement(index)
        return self._actor.options(**options).remote(index, self.count, codec=self.codec, threads=1)

    @staticmethod
    def _placement(index: int) -> NodeAffinitySchedulingStrategy:
        """Shard ``index`` on the alive nodes in turn (Ray's ``SPREAD`` is only a preference:
        it once put four shards on one node of two, and a soft node affinity still put both
        shards on the head now and then). Hard: a shard lost with its node is placed again from
        the nodes alive then (:meth:`_reload`)."""
        nodes = sorted(n["NodeID"] for n in ray.nodes() if n.get("Alive"))  # type: ignore[no-untyped-call]
        return NodeAffinitySchedulingStrategy(node_id=nodes[index % len(nodes)], soft=False)

    def _load(self, *indexes: int) -> int:
        """Give the shards their persons from the loader, in batches, all shards building at
        once (at most ``IN_FLIGHT`` batches waiting per shard); how many."""
        feeds = {index: iter(self.loader(index, self.count)) for index in indexes}
        waiting: dict[int, list[tuple[Any, Any]]] = {index: [] for index in indexes}
        total = 0
        while feeds:
            for index in list(feeds):
                batch = list(itertools.islice(feeds[index], ADD_BATCH))
                if not batch:
                    del feeds[index]
                    continue
                waiting[index].append(self._add_batch(index, batch))
                if len(waiting[index]) > IN_FLIGHT:
                    total += self._loaded(*waiting[index].pop(0))
        return total + sum(self._loaded(*calls) for waited in waiting.values() for calls in waited)

    def _add_batch(self, index: int, batch: list[PersonTemplates]) -> tuple[Any, Any]:
        """Send one batch, and at once the request for the codes the shard will make of it: an
        actor runs its calls in order, and asking only after the batch is done would queue the
        request behind the next batches, the driver waiting on one shard while the others run
        dry (measured: 2 shards built no faster than one)."""
        shard = self.shards[index]
        uncoded = [p.person_id for p in batch if p.fingers and not p.codes]
        wanted = self.codec is not None and self.on_codes is not None and uncoded
        return shard.add.remote(batch), shard.codes_of.remote(uncoded) if wanted else None

    def _loaded(self, added: Any, codes: Any) -> int:
        """Wait for one batch; hand the codes the shard made to ``on_codes``."""
        count = int(ray.get(added))
        if codes is not None and self.on_codes is not None:
            self.on_codes(ray.get(codes))
        return count

    def _reload(self, index: int) -> None:
        log.warning("shard %d was lost: starting it again and reloading it", index)
        with contextlib.suppress(ValueError, RayActorError):  # already gone
            ray.kill(self.shards[index], no_restart=True)
        self.shards[index] = self._start(index)
        self._load(index)

    def _all(self, method: str, *args: Any) -> list[Any]:
        """Call ``method`` on every shard; a lost shard is reloaded and asked again."""
        calls = [getattr(s, method).remote(*args) for s in self.shards]
        answers = []
        for index, call in enumerate(calls):
            try:
                answers.append(ray.get(call))
            except LOST:
                self._reload(index)
                answers.append(ray.get(getattr(self.shards[index], method).remote(*args)))
        return answers

    def _one(self, index: int, method: str, *args: Any) -> Any:
        try:
            return ray.get(getattr(self.shards[index], method).remote(*args))
        except LOST:
            self._reload(index)
            return ray.get(getattr(self.shards[index], method).remote(*args))

    # -- the galleries --------------------------------------------------------------------------

    def owner(self, person_id: int) -> int:
        return person_id % self.count

    def add(self, persons: Sequence[PersonTemplates]) -> int:
        by_shard: dict[int, list[PersonTemplates]] = {}
        for person in persons:
            by_shard.setdefault(self.owner(person.person_id), []).append(person)
        return sum(self._one(i, "add", group) for i, group in by_shard.items())

    def remove(self, person_ids: Iterable[int]) -> int:
        by_shard: dict[int, list[int]] = {}
        for person_id in person_ids:
            by_shard.setdefault(self.owner(person_id), []).append(person_id)
        return sum(self._one(i, "remove", group) for i, group in by_shard.items())

    def search_face(
        self, probes: NDArray[np.float32], k: int
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """Top-k of every probe over all shards: ``(distances, ids)`` as FaceGallery.search."""
        return nearest_of(self._all("search_face", probes, k), k)

    def search_fingers(
        self, probe: Mapping[int, bytes], limit: int = 10, exhaustive: bool = False
    ) -> list[FingerHit]:
        """The ``limit`` best persons for the probe's fingers over all shards, by fused score."""
        hits = [
            h for answer in self._all("search_fingers", probe, limit, exhaustive) for h in answer
        ]
        return heapq.nsmallest(limit, hits, key=lambda h: (-h.score, h.person_id))

    def candidates(
        self,
        face: NDArray[np.float32] | None,
        probe: Mapping[int, bytes],
        face_k: int = 10,
        finger_k: int = 10,
    ) -> list[Scored]:
        """Every shard's exactly scored candidates for one enrolment, in two steps. First every
        shard finds its face top-k and (compact galleries) its best-voted fingers; then each
        shard, handed all those answers, scores the global face top-k and re-ranks the whole
        gallery's shortlist, merged from the votes, among the persons it holds. Each shard thus
        does its share: a shard's own face top-k or shortlist would have each shard score as
        much as one gallery, so that more shards meant more work."""
        return self.collect(self.submit_candidates(face, probe, face_k, finger_k))

    def submit_first(
        self, face: NDArray[np.float32] | None, probe: Mapping[int, bytes], face_k: int = 10
    ) -> list[Any]:
        """Start every shard's first step for one enrolment (:meth:`GalleryShard.first_step`;
        object refs), to be handed to :meth:`submit_candidates`."""
        return [s.first_step.remote(face, probe, face_k) for s in self.shards]

    def submit_candidates(
        self,
        face: NDArray[np.float32] | None,
        probe: Mapping[int, bytes],
        face_k: int = 10,
        finger_k: int = 10,
        firsts: list[Any] | None = None,
    ) -> PendingCandidates:
        """Start :meth:`candidates` for one enrolment and return at once; :meth:`collect` waits
        for the answer. Each shard is handed the others' first steps (``firsts`` from
        :meth:`submit_first`, or asked now) directly: no round trip through here between the
        two steps."""
        shards = list(self.shards)
        if firsts is None:
            firsts = self.submit_first(face, probe, face_k)
        calls = [s.candidates_after.remote(face, probe, face_k, finger_k, *firsts) for s in shards]
        return PendingCandidates(shards, calls, (face, probe, face_k, finger_k))

    def candidates_of_each(
        self,
        persons: Iterable[PersonTemplates],
        face_k: int = 10,
        finger_k: int = 10,
        ahead: int = 1,
    ) -> Iterator[tuple[PersonTemplates, float, list[Scored]]]:
        """(person, when its search started, :meth:`candidates`) for each of ``persons`` in
        turn, lazily, with the next ``ahead`` persons' searches queued on the shards. An actor
        runs its calls in the order given, so a shard that finishes one enrolment early goes
        on to the next; and each enrolment's first step is queued before the previous one's
        second, so that no shard waits for another's second step to get the first-step
        answers it needs."""
        waiting = iter(persons)
        first: deque[tuple[PersonTemplates, float, list[Any]]] = deque()
        asked: deque[tuple[PersonTemplates, float, PendingCandidates]] = deque()

        def first_step_of_next() -> None:
            person = next(waiting, None)
            if person is not None:
                firsts = self.submit_first(person.face, person.fingers, face_k)
                first.append((person, time.perf_counter(), firsts))

        def ask_next() -> None:
            first_step_of_next()  # one ahead of the second step asked now
            if first:
                person, started, firsts = first.popleft()
                pending = self.submit_candidates(
                    person.face, person.fingers, face_k, finger_k, firsts
                )
                asked.append((person, started, pending))

        first_step_of_next()
        for _ in range(1 + ahead):
            ask_next()
        while asked:
            person, started, pending = asked.popleft()
            found = self.collect(pending)
            ask_next()
            yield person, started, found

    def collect(self, pending: PendingCandidates, again: bool = True) -> list[Scored]:
        """The answer of :meth:`submit_candidates`. A shard lost meanwhile is reloaded (once,
        however many enrolments were in flight on it) and the enrolment asked again (once: an
        error that is not a lost shard is raised then)."""
        answers, failed = [], []
        for index, call in enumerate(pending.calls):
            try:
                answers.append(ray.get(call))
            except RayError:  # lost, or waiting on a lost shard's first step
                if not again:
                    raise
                failed.append(index)
        if failed:
            for index in failed:
                used = pending.shards[index]
                if self.shards[index] is used and not _alive(used):
                    self._reload(index)
            return self.collect(self.submit_candidates(*pending.args), again=False)
        return [scored for answer in answers for scored in answer]

    def describe(self) -> list[dict[str, Any]]:
        answers: list[dict[str, Any]] = self._all("describe")
        return answers

    def close(self) -> None:
        for shard in self.shards:
            with contextlib.suppress(ValueError, RayActorError):  # already gone
                ray.kill(shard, no_restart=True)
