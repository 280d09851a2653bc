"""The search indexes in memory, one face gallery and one fingerprint gallery per purpose.

Built from the decrypted database at every start and never written to disk. Only active records
are in them: blocked records (under dispute) and held ones (a likely duplicate waiting for a
supervisor) never match. Each purpose has its own galleries, so no search ever joins records
collected for different purposes. A purpose whose records change all at once (a precinct roll
imported, replaced or deleted) has its galleries built again (:meth:`Galleries.rebuild`): faces at
once, fingers in the background, while the other purposes' galleries go on answering.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping

import numpy as np
from numpy.typing import NDArray

from matcher.face import FaceGallery
from matcher.fingerprint import FingerprintTemplate
from matcher.fingerprint.index import FingerprintGallery
from station.errors import RecordNotFoundError, StationError
from station.storage import Storage

log = logging.getLogger(__name__)


class Galleries:
    """Face and fingerprint galleries by purpose; every record lives in its purpose's only."""

    def __init__(self) -> None:
        self._faces: dict[str, FaceGallery] = {}
        self._fingers: dict[str, FingerprintGallery] = {}
        self._purpose_of: dict[int, str] = {}
        self._counts: dict[str, int] = {}
        self._fingers_ready = threading.Event()
        self._fingers_ready.set()
        self._fingers_error: BaseException | None = None
        self._builder: threading.Thread | None = None
        self.build_seconds: dict[str, float] = {}
        # Purposes whose fingerprint gallery is being built again (rebuild): their own wait.
        self._rebuilding: dict[str, threading.Event] = {}
        self._rebuild_errors: dict[str, BaseException] = {}
        self._rebuilders: list[threading.Thread] = []

    @classmethod
    def build(cls, storage: Storage, background: bool = False) -> Galleries:
        """Every active record's templates, opened and indexed by purpose.

        Faces are indexed at once (under a second at 100,000). Finger templates are opened at
        once too (0.05 s at 3,400 fingers), but preparing their cylinders takes about 7-9 ms a
        finger (24-32 s for a precinct of 1,700 people x 2 fingers on a loaded 2-core machine):
        with ``background`` that runs in a thread, and anything that needs a fingerprint
        gallery waits for it, while the station already answers everything else.
        """
        galleries = cls()
        pending: dict[str, dict[int, dict[int, bytes]]] = {}
        for purpose in storage.active_purposes():
            started = time.perf_counter()
            ids, templates = storage.face_templates(purpose)
            galleries.face(purpose).add(ids, templates)
            galleries._track(purpose, (int(i) for i in ids))
            pending[purpose] = storage.finger_templates(purpose)
            galleries._track(purpose, pending[purpose])
            galleries.build_seconds[purpose] = time.perf_counter() - started
            log.info(
                "galleries of %s: %d faces, %d records with fingers read in %.2f s",
                purpose,
                len(ids),
                len(pending[purpose]),
                galleries.build_seconds[purpose],
            )
        galleries._fingers_ready.clear()
        if background:
            galleries._builder = threading.Thread(
                target=galleries._build_fingers, args=(pending,), name="fingerprint-gallery"
            )
            galleries._builder.start()
        else:
            galleries._build_fingers(pending)
            galleries.check_fingers()
        return galleries

    def _build_fingers(self, pending: dict[str, dict[int, dict[int, bytes]]]) -> None:
        try:
            for purpose, fingers in pending.items():
                if not fingers:
                    continue
                started = time.perf_counter()
                gallery = FingerprintGallery()
                gallery.add_many(
                    {
                        str(rid): {p: FingerprintTemplate.from_bytes(b) for p, b in by.items()}
                        for rid, by in fingers.items()
                    }
                )
                self._fingers[purpose] = gallery
                seconds = time.perf_counter() - started
                self.build_seconds[purpose] = self.build_seconds.get(purpose, 0.0) + seconds
                log.info(
                    "fingerprint gallery of %s: %d fingers in %.2f s",
                    purpose,
                    gallery.fingers,
                    seconds,
                )
        except BaseException as exc:  # reported to whoever needs the gallery
            log.exception("the fingerprint gallery could not be built")
            self._fingers_error = exc
        finally:
            self._fingers_ready.set()

    @property
    def fingers_ready(self) -> bool:
        return self._fingers_ready.is_set() and all(
            event.is_set() for event in list(self._rebuilding.values())
        )

    def rebuild(self, storage: Storage, purpose: str, background: bool = False) -> None:
        """Build one purpose's galleries again from the database, replacing what they held.

        The face gallery is replaced at once. The fingerprint gallery is prepared from the
        opened templates (about 8 ms a finger) in a thread with ``background``: searches of this
        purpose's fingers wait for it (:meth:`finger`), the other purposes never do. Called with
        the station's write lock held, so two rebuilds read the database in the order they
        changed it; the later one's gallery is the one kept.
        """
        self.check_fingers()
        started = time.perf_counter()
        ids, templates = storage.face_templates(purpose)
        fingers = storage.finger_templates(purpose)
        face = FaceGallery()
        face.add(ids, templates)
        for record_id in [r for r, p in self._purpose_of.items() if p == purpose]:
            del self._purpose_of[record_id]
        self._counts[purpose] = 0
        self._track(purpose, (int(i) for i in ids))
        self._track(purpose, fingers)
        self._faces[purpose] = face
        ready = threading.Event()
        self._rebuilding[purpose] = ready
        self._rebuild_errors.pop(purpose, None)
        self.build_seconds[purpose] = time.perf_counter() - started

        def build() -> None:
            try:
                gallery = FingerprintGallery()
                if fingers:
                    gallery.add_many(
                        {
                            str(rid): {p: FingerprintTemplate.from_bytes(b) for p, b in by.items()}
                            for rid, by in fingers.items()
                        }
                    )
                if self._rebuilding.get(purpose) is ready:  # no later rebuild replaced this one
                    self._fingers[purpose] = gallery
                    self.build_seconds[purpose] = time.perf_counter() - started
                log.info(
                    "galleries of %s built again: %d faces, %d fingers in %.2f s",
                    purpose,
                    len(ids),
                    gallery.fingers,
                    time.perf_counter() - started,
                )
            except BaseException as exc:  # reported to whoever needs the gallery
                log.exception("the fingerprint gallery of %s could not be built", purpose)
                self._rebuild_errors[purpose] = exc
            finally:
                ready.set()

        if background:
            thread = threading.Thread(target=build, name=f"fingerprint-gallery-{purpose}")
            self._rebuilders = [t for t in self._rebuilders if t.is_alive()] + [thread]
            thread.start()
        else:
            build()

    def wait(self, purpose: str) -> None:
        """Wait until this purpose's fingerprint gallery is ready; raise if it could not be
        built."""
        self.check_fingers()
        ready = self._rebuilding.get(purpose)
        if ready is not None:
            ready.wait()
        error = self._rebuild_errors.get(purpose)
        if error is not None:
            raise StationError(
                f"the fingerprint gallery of {purpose} could not be built: {error}; restart the "
                "station, and if it recurs restore the database from a backup"
            )

    def check_fingers(self) -> None:
        """Wait for the fingerprint galleries; raise if they could not be built."""
        self._fingers_ready.wait()
        if self._fingers_error is not None:
            raise StationError(
                f"the fingerprint gallery could not be built: {self._fingers_error}; restart the "
                "station, and if it recurs restore the database from a backup"
            )

    def close(self) -> None:
        """Wait for a background build to end (it only computes: nothing to cancel)."""
        if self._builder is not None:
            self._builder.join()
        for thread in self._rebuilders:
            thread.join()

    def face(self, purpose: str) -> FaceGallery:
        if purpose not in self._faces:
            self._faces[purpose] = FaceGallery()
        return self._faces[purpose]

    def finger(self, purpose: str) -> FingerprintGallery:
        """The purpose's fingerprint gallery (waiting for it while it is being built)."""
        self.wait(purpose)
        if purpose not in self._fingers:
            self._fingers[purpose] = FingerprintGallery()
        return self._fingers[purpose]

    def add(
        self,
        record_id: int,
        purpose: str,
        face: NDArray[np.float32] | None,
        fingers: Mapping[int, FingerprintTemplate] | None = None,
    ) -> None:
        """Make a record searchable in its purpose's galleries."""
        self.remove(record_id)
        self._track(purpose, [record_id])
        if face is not None:
            self.face(purpose).add_one(record_id, face)
        if fingers:
            self.finger(purpose).add(str(record_id), fingers)

    def add_from_storage(self, storage: Storage, record_id: int) -> None:
        """Put a record back (after unblocking, or a supervisor's accept) from its sealed data."""
        record = storage.get_record(record_id)
        fingers = {
            p: FingerprintTemplate.from_bytes(b)
            for p, b in storage.record_fingers(record_id).items()
        }
        try:
            face: NDArray[np.float32] | None = storage.get_template(record_id)
        except RecordNotFoundError:  # the record is there: it has no face
            face = None
        self.add(record_id, record.purpose, face, fingers)

    def _track(self, purpose: str, record_ids: Iterable[int]) -> None:
        for record_id in record_ids:
            if self._purpose_of.get(record_id) != purpose:
                self._purpose_of[record_id] = purpose
                self._counts[purpose] = self._counts.get(purpose, 0) + 1

    def remove(self, record_id: int) -> None:
        purpose = self._purpose_of.pop(record_id, None)
        if purpose is None:
            return
        self._counts[purpose] -= 1
        if purpose in self._faces:
            self._faces[purpose].remove([record_id])
        self.wait(purpose)
        if purpose in self._fingers:
            self._fingers[purpose].remove(str(record_id))

    def __len__(self) -> int:
        return len(self._purpose_of)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._purpose_of

    def size(self, purpose: str) -> int:
        """How many records of this purpose can be matched."""
        return self._counts.get(purpose, 0)
