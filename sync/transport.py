"""How the sync worker reaches the centre: its sync service over HTTPS (HTTP on a trusted LAN).

A transport returns a structured reply or raises a SyncError; it never lets a half-known outcome
through: only a body that parses as the protocol's reply marks anything synced (docs/sync.md §4).
A captive portal's HTML page, a proxy's 502, a cut connection or a timeout leave the events
pending, with a plain message saying what was met.
"""

from __future__ import annotations

import gzip
import json
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import httpx

from station import APP_VERSION
from sync.errors import (
    Busy,
    OutOfOrder,
    StationMismatch,
    StationRevoked,
    SyncError,
    TokenRefused,
    TransientError,
    UpgradeRequired,
)
from sync.protocol import (
    AFTER_SEQ_HEADER,
    CENTRE_HEADER,
    PROTOCOL_VERSION,
    SEND_AHEAD_HEADER,
    PullPage,
    PullRequest,
    PushBatch,
    PushReply,
)

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 60.0
COMPRESS_ABOVE = 1024  # bytes of JSON: smaller bodies go as they are

T = TypeVar("T")


class Transport(Protocol):
    def push(self, batch: PushBatch) -> PushReply: ...

    def pull(self, request: PullRequest) -> PullPage: ...

    def close(self) -> None: ...


class CertificateNotTrusted(SyncError):
    """The centre's TLS certificate could not be verified: a setting to fix, not a retry."""


class NotACentralUrl(SyncError):
    """The station was given something that is not the sync service's address."""


def check_central_url(url: str) -> str:
    """The service address as it will be used, or NotACentralUrl (a station's old database
    URL included: it says how to reconnect)."""
    from station.centre import CentreSettingError
    from station.centre import check_central_url as check

    try:
        return check(url)
    except CentreSettingError as exc:
        raise NotACentralUrl(exc.message) from exc


def redact(url: str) -> str:
    """The URL without a password, for messages and logs."""
    from station.secrets import split_secret

    return split_secret(url)[0]


def make_transport(url: str, token: str | None, *, station_id: str = "",
                   ca_file: str | None = None) -> HttpTransport:
    """The transport for a centre address; refuses database URLs (a station's old setting)."""
    url = check_central_url(url)
    if not token:
        raise TokenRefused(station_id or "?", "No token is stored for this station: connect it "
                           "again with the token the central administrator gave")
    return HttpTransport(url, token, station_id=station_id, ca_file=ca_file)


class HttpTransport:
    """httpx with keep-alive, connect and read timeouts, certificate verification on."""

    def __init__(self, url: str, token: str, *, station_id: str = "", ca_file: str | None = None,
                 connect_timeout: float = CONNECT_TIMEOUT_S,
                 read_timeout: float = READ_TIMEOUT_S, compress: bool = True) -> None:
        self.url = check_central_url(url)
        self.station_id = station_id
        self.compress = compress
        self.connect_timeout = connect_timeout
        verify: ssl.SSLContext | bool = True
        if ca_file:
            try:
                verify = ssl.create_default_context(cafile=ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise CertificateNotTrusted(
                    f"The CA file {ca_file} cannot be used: {exc}") from exc
        self.client = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}",
                     "User-Agent": f"tracetrack-station/{APP_VERSION}",
                     "Accept": "application/json"},
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            verify=verify,
            limits=httpx.Limits(max_connections=2, max_keepalive_connections=1),
            follow_redirects=False,
            trust_env=False,
        )

    # -- the protocol --------------------------------------------------------------------------

    # The worker may send the next batch before this one's answer (docs/sync.md, "Sending
    # ahead"): the centre applies it only after the events up to `after_seq` are stored.
    pipelining = True
    # False while the centre's latest push reply says it is contended (SEND_AHEAD_HEADER: "no":
    # a batch had to queue, or stations are being turned away); the worker then sends one
    # batch at a time
    ahead_welcome = True
    # Where the centre spent the last push's time (ms per part, from its Server-Timing header),
    # and, when a list is set here (benchmarks), every push's
    last_server_timing: dict[str, float] = {}  # noqa: RUF012 - replaced, never mutated
    timing_log: list[dict[str, float]] | None = None
    _station_parts: dict[str, float] = {}  # noqa: RUF012 - replaced, never mutated
    # The centre's identity, from its answers (status, whoami): None until one said it
    centre_id: str | None = None

    def push(self, batch: PushBatch, *, after_seq: int | None = None) -> PushReply:
        headers = None if after_seq is None else {AFTER_SEQ_HEADER: str(after_seq)}
        return self._call("POST", "/v1/push", batch.to_json(), PushReply.from_json, headers)

    def pull(self, request: PullRequest) -> PullPage:
        return self._call("POST", "/v1/pull", request.to_json(), PullPage.from_json)

    def status(self) -> PushReply:
        return self._call("GET", "/v1/status", None, PushReply.from_json)

    def whoami(self) -> dict[str, Any]:
        def parse(obj: dict[str, Any]) -> dict[str, Any]:
            if not isinstance(obj.get("station_id"), str):
                raise ValueError("no station_id")
            return obj
        return self._call("GET", "/v1/whoami", None, parse)

    def close(self) -> None:
        self.client.close()

    # -- one request ---------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: dict[str, Any] | None,
              parse: Callable[[dict[str, Any]], T], extra: dict[str, str] | None = None) -> T:
        headers: dict[str, str] = dict(extra) if extra else {}
        content: bytes | None = None
        timed = self.timing_log is not None
        waited = _cpu_wait_ms() if timed else 0.0
        t0 = time.perf_counter()
        if body is not None:
            # ASCII JSON: a damaged value (a lone surrogate, NaN) still travels, and the centre
            # rejects that one event by name instead of the whole batch being unreadable.
            content = json.dumps(body, separators=(",", ":")).encode("ascii")
            headers["Content-Type"] = "application/json"
            if self.compress and len(content) > COMPRESS_ABOVE:
                content = gzip.compress(content, compresslevel=1)
                headers["Content-Encoding"] = "gzip"
        try:
            t1 = time.perf_counter()
            resp = self.client.request(method, path, content=content, headers=headers)
            if timed:
                self._station_parts = {
                    "station_encode": (t1 - t0) * 1000.0,
                    "station_exchange": (time.perf_counter() - t1) * 1000.0,
                    "station_cpu_wait": _cpu_wait_ms() - waited,
                    "station_events": float(len(body.get("events") or ()) if body else 0),
                }
        except httpx.ConnectTimeout as exc:
            raise TransientError(f"The centre at {self.url} did not answer the connection within "
                                 f"{self.connect_timeout:g} s: offline, retrying") from exc
        except httpx.ConnectError as exc:
            text = str(exc)
            if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
                raise CertificateNotTrusted(
                    f"The centre's certificate at {self.url} is not trusted ({_short(text)}): if "
                    "the centre uses its own certificate authority, connect with --ca-file FILE"
                ) from exc
            raise TransientError(f"The centre at {self.url} cannot be reached: "
                                 f"{_short(text) or type(exc).__name__}") from exc
        except httpx.TimeoutException as exc:
            raise TransientError(f"The centre at {self.url} did not answer in time: the events "
                                 "stay queued and are sent again") from exc
        except httpx.TransportError as exc:
            raise TransientError(f"The connection to the centre at {self.url} was cut before its "
                                 "answer: the events stay queued and are sent again "
                                 f"({type(exc).__name__})") from exc
        except httpx.DecodingError as exc:
            # not a TransportError: a body that says it is compressed and is not (a proxy that
            # mangled it)
            raise TransientError(f"The centre at {self.url} answered with a damaged body "
                                 f"({_short(str(exc))}): nothing was marked sent, the events "
                                 "stay queued and are sent again") from exc
        return self._answer(resp, parse)

    def _answer(self, resp: httpx.Response, parse: Callable[[dict[str, Any]], T]) -> T:
        obj = _json_of(resp)
        status = resp.status_code
        if status == 200 and resp.request.url.path.endswith("/v1/push"):
            # each push reply says whether sending ahead is welcome now (a storm passes)
            self.ahead_welcome = resp.headers.get(SEND_AHEAD_HEADER) != "no"
            self.last_server_timing = server_timing(resp.headers.get("server-timing", ""))
            if self.timing_log is not None:
                # with the station's own parts: encoding the batch, and the exchange (sending,
                # the centre's work, the answer coming back)
                self.timing_log.append({**self.last_server_timing, **self._station_parts})
        if status == 200:
            if obj is None:
                raise TransientError(_not_the_service(resp, self.url))
            centre = resp.headers.get(CENTRE_HEADER)
            if centre:
                self.centre_id = centre
            try:
                return parse(obj)
            except (KeyError, TypeError, ValueError) as exc:
                raise TransientError(
                    f"The centre at {self.url} answered with JSON that is not a sync reply "
                    f"({exc}): nothing was marked sent") from exc
        code = obj.get("error") if obj else None
        message = str(obj.get("message") or "") if obj else ""
        if code is None:
            # Not our service's answer: a proxy, a load balancer, a portal.
            if status in (401, 403, 407):
                raise TransientError(_not_the_service(resp, self.url))
            raise TransientError(_not_the_service(resp, self.url))
        sid = self.station_id or "?"
        if code in ("token_unknown", "token_missing"):
            raise TokenRefused(sid, message)
        if code == "station_revoked":
            raise StationRevoked(sid)
        if code == "station_mismatch":
            assert obj is not None
            raise StationMismatch(str(obj.get("station") or "?"), str(obj.get("claimed") or sid))
        if code == "upgrade_required":
            assert obj is not None
            accepted = obj.get("accepted")
            if not isinstance(accepted, list):
                accepted = []  # only informs the message: a centre's odd value is left out
            version = obj.get("version")
            raise UpgradeRequired(version if isinstance(version, int) else PROTOCOL_VERSION,
                                  [v for v in accepted
                                   if isinstance(v, int) and not isinstance(v, bool)])
        if code == "out_of_order":
            raise OutOfOrder(message or None)
        if status == 503 or code in ("busy", "database_unavailable"):
            retry = _retry_after(resp, obj)
            if code == "busy":
                raise Busy(retry, message or None)
            raise TransientError(message or "The centre is unavailable: retrying later")
        if status >= 500:
            raise TransientError(f"The centre failed to handle the request ({status}): {message}")
        raise SyncError(f"The centre refused the request ({status} {code}): {message}")


def _json_of(resp: httpx.Response) -> dict[str, Any] | None:
    if "json" not in resp.headers.get("content-type", ""):
        return None
    try:
        obj = resp.json()
    except (ValueError, UnicodeDecodeError):
        return None
    return obj if isinstance(obj, dict) else None


def _retry_after(resp: httpx.Response, obj: dict[str, Any] | None) -> float:
    raw = (obj or {}).get("retry_after")
    if isinstance(raw, (int, float)) and 0 <= raw < 3600:
        return float(raw)
    try:
        return max(0.0, min(3600.0, float(resp.headers.get("retry-after", "5"))))
    except ValueError:
        return 5.0


def _not_the_service(resp: httpx.Response, url: str) -> str:
    kind = resp.headers.get("content-type", "no content type").split(";")[0]
    what = f"{resp.status_code} {resp.reason_phrase}".strip()
    hint = ""
    if "html" in kind:
        hint = (": a captive portal, a proxy's login page or another web server? Open the "
                "address in a browser on this computer")
    elif resp.status_code in (502, 503, 504):
        hint = ": a proxy in front of the centre could not reach the sync service"
    return (f"The address {url} answered with something other than the sync service ({what}, "
            f"{kind}){hint}. Nothing was marked sent: the events stay queued.")


def server_timing(header: str) -> dict[str, float]:
    """A Server-Timing header as {name: milliseconds}; parts without a readable dur are left
    out (the header only informs, it never decides anything)."""
    out: dict[str, float] = {}
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "dur" and name:
                try:
                    out[name] = float(value)
                except ValueError:
                    pass
    return out


def _cpu_wait_ms() -> float:
    """How long this thread has waited for a CPU so far (ms; Linux scheduler statistics, 0
    elsewhere). Benchmarks take it out of a station's figures: there, hundreds of station
    processes share the centre's cores, which no real station does."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[1]) / 1e6
    except (OSError, ValueError, IndexError):
        return 0.0


def _short(text: str) -> str:
    return text.strip().splitlines()[0][:200] if text.strip() else ""
