"""Replies a real centre should not give, from a tiny real HTTP server at the centre's address:
the station keeps its events, says plainly what it met, and backs off instead of looping."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sync.transport import HttpTransport
from sync.worker import SyncSummary
from tests.sync.stationkit import local_rows, login, make_station, worker_for

FIGURES = {"results": [], "station_count": 0, "high_seq": 0, "rolling_hash": "",
           "retry_after": None, "clock_skew_s": None}


class _Odd(BaseHTTPRequestHandler):
    """GET /v1/status: a centre that holds nothing; POST /v1/push: `push_answer(batch)`."""

    pushes: list[dict]
    push_answer = staticmethod(lambda batch: (200, {}, json.dumps(FIGURES).encode()))
    pull_answer: dict | None = None  # POST /v1/pull: this page, always

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        headers = {"Content-Type": "application/json", **headers}
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    status_answer: dict = FIGURES  # GET /v1/status

    def do_GET(self) -> None:  # noqa: N802
        self._send(200, {}, json.dumps(self.status_answer).encode())

    def do_POST(self) -> None:  # noqa: N802
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.headers.get("content-encoding") == "gzip":
            import gzip
            raw = gzip.decompress(raw)
        batch = json.loads(raw)
        if self.path.endswith("/v1/pull") and self.pull_answer is not None:
            self._send(200, {}, json.dumps(self.pull_answer).encode())
            return
        self.pushes.append(batch)
        self._send(*self.push_answer(batch))

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def odd_centre():
    servers = []

    def start(push_answer, pull_answer: dict | None = None,  # noqa: ANN001
              status_answer: dict = FIGURES) -> tuple[str, list[dict]]:
        pushes: list[dict] = []
        handler = type("H", (_Odd,), {"pushes": pushes, "pull_answer": pull_answer,
                                      "status_answer": status_answer,
                                      "push_answer": staticmethod(push_answer)})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        t = threading.Thread(target=server.serve_forever, name="odd-centre", daemon=True)
        t.start()
        servers.append((server, t))
        return f"http://127.0.0.1:{server.server_address[1]}", pushes

    yield start
    for server, t in servers:
        server.shutdown()
        server.server_close()
        t.join(5)


class _Access(str):
    def __new__(cls, url: str, sid: str):
        obj = super().__new__(cls, url)
        obj.station_id = sid
        return obj

    def transport(self) -> HttpTransport:
        return HttpTransport(str(self), "tts_anything", station_id=self.station_id,
                             connect_timeout=3, read_timeout=10)


def _fill(store, n: int) -> None:  # noqa: ANN001
    svc = login(store)
    try:
        assert svc.record_scan("SB00001").ok
        for i in range(n):
            assert svc.record_scan(f"C{i:05d}").ok
    finally:
        svc.close()


def _pending(store) -> int:  # noqa: ANN001
    return local_rows(store, "SELECT count(*) FROM events WHERE sync_state = 'pending'")[0][0]


def _run_bounded(worker) -> SyncSummary | None:  # noqa: ANN001
    """run_once on its own thread; None (after stopping it) if it did not end by itself."""
    out: list[SyncSummary] = []
    t = threading.Thread(target=lambda: out.append(worker.run_once()), daemon=True)
    t.start()
    t.join(10)
    if t.is_alive():
        worker._stop.set()
        t.join(20)
        return None
    return out[0]


def test_a_reply_without_results_for_the_batch_ends_the_run_and_backs_off(
        odd_centre, tmp_path) -> None:
    """A 200 reply that answers none of the batch's events (a centre's bug, a proxy's cache)
    leaves them pending; the run must end there with a plain message and back off, not send
    the same batch again and again at once for ever."""
    url, pushes = odd_centre(lambda batch: (200, {}, json.dumps(FIGURES).encode()))
    store = make_station(tmp_path, "O1")
    _fill(store, 3)
    worker = worker_for(store, _Access(url, "O1"), pull=False)
    try:
        summary = _run_bounded(worker)
        assert summary is not None, f"the run never ended: {len(pushes)} pushes of one batch"
        assert len(pushes) == 1
        assert summary.state == "offline" and worker.failures == 1
        assert "4" in (summary.error or "") and "queued" in (summary.error or "")
        assert _pending(store) == 4
    finally:
        worker.close()
        store.close()


def test_a_reply_answering_part_of_the_batch_marks_that_part_only(odd_centre, tmp_path) -> None:
    """Results for some of the events: those are marked, the rest stay pending and the run
    backs off instead of resending them at once in a loop."""
    def half(batch: dict) -> tuple[int, dict, bytes]:
        results = [{"event_id": e["event_id"], "seq": e["seq"], "result": "applied",
                    "reason": None, "message": None} for e in batch["events"][:2]]
        return 200, {}, json.dumps({**FIGURES, "results": results}).encode()

    url, pushes = odd_centre(half)
    store = make_station(tmp_path, "O2")
    _fill(store, 3)
    worker = worker_for(store, _Access(url, "O2"), pull=False)
    try:
        summary = _run_bounded(worker)
        assert summary is not None, f"the run never ended: {len(pushes)} pushes"
        assert len(pushes) == 1 and summary.applied == 2
        assert summary.state == "offline" and _pending(store) == 2
    finally:
        worker.close()
        store.close()


def test_a_reply_whose_compressed_body_is_damaged_is_a_plain_transient_error(
        odd_centre, tmp_path) -> None:
    """A reply that says gzip but is not (a proxy that mangled it, a cut inside the body): the
    events stay queued and the message says what was met, not "Sync failed unexpectedly"."""
    url, pushes = odd_centre(lambda batch: (200, {"Content-Encoding": "gzip"},
                                            b"\x1f\x8b\x08\x00 this is not gzip at all"))
    store = make_station(tmp_path, "O3")
    _fill(store, 3)
    worker = worker_for(store, _Access(url, "O3"), pull=False)
    try:
        summary = _run_bounded(worker)
        assert summary is not None
        assert summary.state == "offline" and _pending(store) == 4
        assert "unexpectedly" not in (summary.error or "")
        assert "queued" in (summary.error or "")
    finally:
        worker.close()
        store.close()


@pytest.mark.parametrize("settings", ["scan_sound", ["scan_sound"], 5])
def test_centre_settings_that_are_not_settings_by_name_are_refused_plainly(
        odd_centre, tmp_path, settings) -> None:
    """The last page of a pull carries the centre's settings as {name: value}; anything else
    there is refused with the run's notice (the station keeps its settings), as a bad value is,
    instead of failing every run "unexpectedly" and never being online again."""
    page = {"changes": [], "cursor": "1", "done": True, "bootstrap": False,
            "extra": {"settings": settings}}
    url, _pushes = odd_centre(lambda batch: (200, {}, json.dumps(FIGURES).encode()), page)
    store = make_station(tmp_path, "O4")
    before = store.settings()
    worker = worker_for(store, _Access(url, "O4"))
    try:
        summary = _run_bounded(worker)
        assert summary is not None
        assert summary.error is None and summary.state == "online"
        assert "NOT applied" in (summary.notice or "")
        assert store.settings() == before and not summary.settings_changed
    finally:
        worker.close()
        store.close()


def test_a_connect_timeout_names_the_timeout_the_transport_uses() -> None:
    """A centre whose listen queue is full (SYNs dropped): the message names the connect
    timeout this transport waited, not the default one."""
    import socket

    from sync.errors import TransientError

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fill = []
    for _ in range(4):  # the queue filled: a further connection is never answered
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fill.append(c)
    transport = HttpTransport(f"http://127.0.0.1:{port}", "tts_anything", station_id="O5",
                              connect_timeout=1, read_timeout=5)
    try:
        with pytest.raises(TransientError) as info:
            transport.status()
        assert "within 1 s" in info.value.message, info.value.message
    finally:
        transport.close()
        for c in fill:
            c.close()
        server.close()


@pytest.mark.parametrize(("field", "value"), [("reason", ["unknown_operator"]),
                                              ("message", {"text": "no"}), ("reason", 7)])
def test_a_result_whose_reason_or_message_is_not_text_is_not_a_sync_reply(
        odd_centre, tmp_path, field, value) -> None:
    """A reply whose results carry a reason or a message that is not text (or null) is JSON
    that is not a sync reply: nothing is marked and the message says so plainly."""
    def odd(batch: dict) -> tuple[int, dict, bytes]:
        results = [{"event_id": e["event_id"], "seq": e["seq"], "result": "rejected",
                    "reason": "unknown_operator", "message": "refused", field: value}
                   for e in batch["events"]]
        return 200, {}, json.dumps({**FIGURES, "results": results}).encode()

    url, _pushes = odd_centre(odd)
    store = make_station(tmp_path, "O6")
    _fill(store, 2)
    worker = worker_for(store, _Access(url, "O6"), pull=False)
    try:
        summary = _run_bounded(worker)
        assert summary is not None
        assert summary.state == "offline" and "not a sync reply" in (summary.error or "")
        assert _pending(store) == 3
        assert local_rows(store, "SELECT count(*) FROM sync_issues")[0][0] == 0
    finally:
        worker.close()
        store.close()


@pytest.mark.parametrize("accepted", [5, True, "2"])
def test_upgrade_required_with_odd_versions_still_says_upgrade(odd_centre, tmp_path,
                                                               accepted) -> None:
    body = json.dumps({"error": "upgrade_required", "message": "upgrade",
                       "accepted": accepted, "version": 1}).encode()
    url, _pushes = odd_centre(lambda batch: (426, {}, body))
    store = make_station(tmp_path, "O7")
    _fill(store, 1)
    worker = worker_for(store, _Access(url, "O7"), pull=False)
    try:
        summary = _run_bounded(worker)
        assert summary is not None
        assert summary.state == "blocked" and "upgrade TraceTrack Station" in (summary.error or "")
        assert _pending(store) == 2
    finally:
        worker.close()
        store.close()


@pytest.mark.parametrize(("count", "high"), [(5, 2**64), (-3, 4), (5, -1)])
def test_centre_figures_out_of_any_station_s_range_are_not_a_sync_reply(
        odd_centre, tmp_path, count, high) -> None:
    """Figures no centre can hold (a sequence beyond 64 bits, a negative count) are JSON that
    is not a sync reply: the store is neither renumbered nor failed "unexpectedly"."""
    odd = {**FIGURES, "station_count": count, "high_seq": high, "rolling_hash": "ab"}
    url, pushes = odd_centre(lambda batch: (200, {}, json.dumps(FIGURES).encode()), None, odd)
    store = make_station(tmp_path, "O8")
    _fill(store, 2)
    worker = worker_for(store, _Access(url, "O8"), pull=False)
    try:
        summary = _run_bounded(worker)
        assert summary is not None
        assert summary.state == "offline" and "not a sync reply" in (summary.error or "")
        assert pushes == [] and _pending(store) == 3
        assert [r[0] for r in local_rows(store, "SELECT seq FROM events ORDER BY seq")] == [1, 2, 3]
    finally:
        worker.close()
        store.close()
