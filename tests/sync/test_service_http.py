"""The sync service over HTTP, as stations and the network meet it: TLS with its own CA, captive
portals and proxies, tokens revoked or rotated mid-drain, stalled and oversized requests, and a
fuzz run of the API. Every test runs a real `tracetrack-central serve` process."""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from sync.errors import StationRevoked, TokenRefused, TransientError
from sync.transport import CertificateNotTrusted, HttpTransport, NotACentralUrl, make_transport
from sync.worker import SyncSummary, SyncWorker
from tests.sync.conftest import Events, push_as
from tests.sync.service_proc import CentralService
from tests.sync.stationkit import central_scalar, local_rows, login, make_station, worker_for

pytestmark = pytest.mark.central


def _fill(store, n_children: int, parent: str = "SB00001", prefix: str = "C") -> None:
    svc = login(store)
    try:
        assert svc.record_scan(parent).ok
        for i in range(n_children):
            assert svc.record_scan(f"{prefix}{i:05d}").ok
    finally:
        svc.close()


def _pending(store) -> int:
    return local_rows(store, "SELECT count(*) FROM events WHERE sync_state = 'pending'")[0][0]


# -- the service's own endpoints ----------------------------------------------------------------


def test_whoami_health_and_openapi(central_db) -> None:
    access = central_db.add_station("W1", area="South", scope="all")
    who = access.transport().whoami()
    assert (who["station_id"], who["area"], who["scope"]) == ("W1", "South", "all")
    health = httpx.get(access.url + "/healthz").json()
    assert health["ok"] is True and health["schema"] == health["expected_schema"]
    doc = httpx.get(access.url + "/openapi.json").json()
    assert {"/v1/push", "/v1/pull", "/v1/status", "/v1/whoami"} <= set(doc["paths"])
    # no token, a junk token: 401 with a message naming what to send
    r = httpx.post(access.url + "/v1/push", json={})
    assert r.status_code == 401 and "Bearer" in r.json()["message"]
    r = httpx.get(access.url + "/v1/whoami", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.json()["error"] == "token_unknown"


def test_station_refuses_a_database_url_and_says_what_to_do() -> None:
    with pytest.raises(NotACentralUrl) as err:
        make_transport("postgresql://tts_x:pw@centre/db", "tok", station_id="S1")
    assert "add-station" in err.value.message and "https" in err.value.message
    assert "pw" not in err.value.message  # the old password is never echoed


# -- TLS ----------------------------------------------------------------------------------------


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[str, str, str]:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    certfile, keyfile, cafile = (tmp_path / n for n in ("cert.pem", "key.pem", "ca.pem"))
    cert.private_key_and_cert_chain_pem.write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    ca.cert_pem.write_to_path(str(cafile))
    return str(certfile), str(keyfile), str(cafile)


def test_https_with_the_centres_own_ca(central_db, tmp_path, tls_files) -> None:
    certfile, keyfile, cafile = tls_files
    token = central_db.register("T1")
    service = CentralService(central_db.service_url(), tmp_path / "tls", certfile=certfile,
                             keyfile=keyfile)
    service.ca_file = cafile
    service.start()
    try:
        assert service.url.startswith("https://localhost:")
        # Without the CA the certificate is not trusted: said plainly, nothing sent.
        plain = HttpTransport(service.url, token, station_id="T1")
        with pytest.raises(CertificateNotTrusted) as err:
            plain.whoami()
        plain.close()
        assert "--ca-file" in err.value.message
        # With it, a whole drain goes through.
        store = make_station(tmp_path / "st", "T1")
        _fill(store, 5)
        worker = worker_for(store, service.access("T1", token))
        summary = worker.run_once()
        worker.close()
        assert summary.error is None and summary.applied == 6 and _pending(store) == 0
        assert central_scalar(central_db.url, "SELECT count(*) FROM station_events") == 6
    finally:
        service.stop()


# -- what else may answer at the centre's address -----------------------------------------------


class _FakeAnswer(BaseHTTPRequestHandler):
    status = 200
    content_type = "text/html"
    body = b"<html><body>Welcome to Warehouse Wi-Fi: accept the terms</body></html>"

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        self.send_response(self.status)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_centre():
    servers = []

    def start(status: int, content_type: str, body: bytes) -> str:
        handler = type("H", (_FakeAnswer,), {"status": status, "content_type": content_type,
                                              "body": body})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        t = threading.Thread(target=server.serve_forever, name="fake-centre", daemon=True)
        t.start()
        servers.append((server, t))
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server, t in servers:
        server.shutdown()
        server.server_close()
        t.join(5)


@pytest.mark.parametrize(("status", "ctype", "body", "words"), [
    (200, "text/html", b"<html>Welcome to Warehouse Wi-Fi</html>", "captive portal"),
    (502, "text/html", b"<html><center>502 Bad Gateway</center> nginx</html>", "502"),
    (200, "application/json", b'{"hello": "world"}', "not a sync reply"),
    (200, "application/json", b"[1, 2, 3]", "other than the sync service"),
])
def test_an_answer_that_is_not_the_service_marks_nothing(fake_centre, tmp_path, status, ctype,
                                                         body, words) -> None:
    url = fake_centre(status, ctype, body)
    store = make_station(tmp_path, "P1")
    _fill(store, 3)
    worker = worker_for(store, _Access(url, "tts_anything", "P1"))
    summary = worker.run_once()
    worker.close()
    assert summary.state == "offline" and words in (summary.error or "")
    assert summary.applied == 0 and _pending(store) == 4  # everything still queued
    assert "Nothing was marked sent" in summary.error or "nothing was marked" in summary.error


class _Access(str):
    def __new__(cls, url: str, token: str, sid: str):
        obj = super().__new__(cls, url)
        obj.token, obj.station_id = token, sid
        return obj

    def transport(self):
        return HttpTransport(str(self), self.token, station_id=self.station_id,
                             connect_timeout=3, read_timeout=10)


# -- tokens revoked and rotated while a station drains ------------------------------------------


def _run_central(central_db, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("tracetrack-central")), *args, "--url", central_db.url],
        capture_output=True, text=True, timeout=60,
    )


def test_revoked_mid_drain_blocks_and_keeps_the_queue(central_db, tmp_path) -> None:
    access = central_db.add_station("R1")
    store = make_station(tmp_path, "R1")
    _fill(store, 29)
    worker = worker_for(store, access, max_batch_events=10)
    first = worker.next_batch()
    assert first is not None
    worker.record_reply(first, access.transport().push(_push_batch_for("R1", first)), _summary())
    assert _pending(store) == 20
    out = _run_central(central_db, "revoke-station", "R1")
    assert out.returncode == 0, out.stderr
    summary = worker.run_once()
    worker.close()
    assert summary.state == "blocked" and "R1" in (summary.error or "")
    assert "Nothing was lost" in summary.error
    assert _pending(store) == 20  # kept for when the station is allowed again
    assert central_scalar(central_db.url, "SELECT count(*) FROM station_events") == 10
    with pytest.raises(StationRevoked):
        access.transport().whoami()


def _summary() -> SyncSummary:
    return SyncSummary()


def test_rotated_token_mid_drain_old_refused_new_sends_the_rest_once(central_db, tmp_path) -> None:
    from sync.cli import connect_station, transport_factory

    access = central_db.add_station("R2")
    store = make_station(tmp_path, "R2")
    _fill(store, 29)
    connect_station(store, access.url, access.token)
    worker = worker_for(store, access, max_batch_events=10)
    batch = worker.next_batch()
    worker.record_reply(batch, access.transport().push(_push_batch_for("R2", batch)), _summary())
    out = _run_central(central_db, "rotate-token", "R2", "--json")
    assert out.returncode == 0, out.stderr
    new_token = json.loads(out.stdout)["token"]
    assert new_token != access.token and len(new_token) >= 43
    # the old token stops at once
    worker2 = worker_for(store, access)
    summary = worker2.run_once()
    worker2.close()
    assert summary.state == "blocked" and _pending(store) == 20
    with pytest.raises(TokenRefused):
        access.transport().whoami()
    # connected again with the new token: the rest goes, each event exactly once
    connect_station(store, access.url, new_token)
    worker3 = SyncWorker(store, transport_factory(store), backoff_base_s=0.01, backoff_cap_s=0.2)
    summary = worker3.run_once()
    worker3.close()
    assert summary.error is None and _pending(store) == 0
    assert central_scalar(central_db.url, "SELECT count(*) FROM station_events") == 30
    assert central_scalar(central_db.url,
                          "SELECT count(DISTINCT event_id) FROM station_events") == 30
    worker.close()


def test_a_token_the_service_remembers_stops_at_once(central_db) -> None:
    """The service remembers which station a token belongs to (a push then needs no look-up of
    its own), but every push checks the token in its own transaction: rotated, the old token's
    next push is refused 401; revoked, 403, also for a malformed batch (the token is what is
    wrong, not the batch); nothing is written either way."""
    access = central_db.add_station("K1")  # one worker: the process that remembers is asked
    ev = Events("K1")
    assert push_as(access, "K1", [ev.parent("SB00001")]).results[0].result == "applied"
    out = _run_central(central_db, "rotate-token", "K1", "--json")
    assert out.returncode == 0, out.stderr
    link = ev.link("SB00001", "C00001")
    with pytest.raises(TokenRefused):
        push_as(access, "K1", [link])
    assert central_scalar(central_db.url, "SELECT count(*) FROM station_events") == 1
    renewed = central_db.service().access("K1", json.loads(out.stdout)["token"])
    assert push_as(renewed, "K1", [link]).results[0].result == "applied"  # remembered now
    out = _run_central(central_db, "revoke-station", "K1")
    assert out.returncode == 0, out.stderr
    r = httpx.post(renewed.url + "/v1/push", content=b'{"station_id": "K1", "events": [oops',
                   headers={"Authorization": f"Bearer {renewed.token}"})
    assert r.status_code == 403 and r.json()["error"] == "station_revoked", r.text
    with pytest.raises(StationRevoked):
        push_as(renewed, "K1", [ev.link("SB00001", "C00002")])
    assert central_scalar(central_db.url, "SELECT count(*) FROM station_events") == 2


def _push_batch_for(sid: str, batch):
    from station import APP_VERSION
    from sync.protocol import PROTOCOL_VERSION, PushBatch

    return PushBatch(sid, PROTOCOL_VERSION, APP_VERSION, batch.events, batch.backlog)


# -- requests that stall or are too big ---------------------------------------------------------


def test_a_client_stalling_mid_body_holds_nothing(central_db, tmp_path) -> None:
    slow_token = central_db.register("SLOW")
    token = central_db.register("FAST")
    service = CentralService(central_db.service_url(), tmp_path / "stall",
                             extra=("--body-timeout", "2"))
    service.start()
    try:
        sock = socket.create_connection(("127.0.0.1", service.port))
        body = json.dumps({"station_id": "SLOW", "protocol_version": 1, "events": []}).encode()
        sock.sendall(
            b"POST /v1/push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {slow_token}\r\nContent-Length: {len(body) + 5000}\r\n\r\n".encode()
            + body[:10])
        # another station goes through at once while that body hangs
        ev = Events("FAST")
        t0 = time.monotonic()
        reply = push_as(service.access("FAST", token), "FAST", [ev.parent("SB00001")])
        assert reply.results[0].result == "applied"
        assert time.monotonic() - t0 < 1.5
        # the stalled request is answered 408 within the body timeout, and dropped
        sock.settimeout(10)
        answer = b""
        while b"did not arrive within" not in answer:  # headers and body may come apart
            chunk = sock.recv(4096)
            if not chunk:  # closed by the service after its answer
                break
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"did not arrive within 2 s" in answer
        sock.close()
    finally:
        service.stop()


def test_body_size_limits_are_413_with_the_limit(central_db, tmp_path) -> None:
    token = central_db.register("BIG")
    service = CentralService(central_db.service_url(), tmp_path / "big",
                             extra=("--max-body", "20000"))
    service.start()
    try:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        big = json.dumps({"station_id": "BIG", "protocol_version": 1,
                          "events": [{"x": "y" * 100}] * 300}).encode()
        r = httpx.post(service.url + "/v1/push", content=big, headers=headers)
        assert r.status_code == 413 and "20000 bytes" in r.json()["message"]
        # a small gzip body that inflates past the limit of decompressed JSON (16 MiB)
        bomb = gzip.compress(b"[" + b" " * (17 * 1024 * 1024) + b"]")
        assert len(bomb) < 20000
        r = httpx.post(service.url + "/v1/push", content=bomb,
                       headers={**headers, "Content-Encoding": "gzip"})
        assert r.status_code == 413 and "decompressed" in r.json()["message"]
        r = httpx.post(service.url + "/v1/push", content=b"{not json", headers=headers)
        assert r.status_code == 400 and r.json()["error"] == "bad_json"
        r = httpx.post(service.url + "/v1/push", content=b"{}", headers=headers)
        assert r.status_code == 400 and "push batch" in r.json()["message"]
    finally:
        service.stop()


def test_centre_unreachable_is_offline_and_keeps_everything(tmp_path) -> None:
    from tests.sync.service_proc import free_port

    store = make_station(tmp_path, "U1")
    _fill(store, 2)
    worker = worker_for(store, _Access(f"http://127.0.0.1:{free_port()}", "tts_x", "U1"))
    summary = worker.run_once()
    worker.close()
    assert summary.state == "offline" and "cannot be reached" in (summary.error or "")
    assert _pending(store) == 3
    with pytest.raises(TransientError):
        _Access(f"http://127.0.0.1:{free_port()}", "tts_x", "U1").transport().whoami()


# -- fuzzing the API ----------------------------------------------------------------------------


def test_api_fuzz_finds_no_server_error(central_db, tmp_path) -> None:
    """schemathesis against the service's own OpenAPI document, bounded to about a minute."""
    access = central_db.add_station("FZ")
    st = Path(sys.executable).with_name("schemathesis")
    out = subprocess.run(
        [str(st), "run", access.url + "/openapi.json", "--checks", "not_a_server_error",
         "-H", f"Authorization: Bearer {access.token}", "--seed", "7", "-n", "25",
         "--request-timeout", "20"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "No issues found" in out.stdout
    assert "Traceback" not in central_db.service().output()
