"""The station's central credential (database password or gateway token), kept out of the settings.

The OS keyring is used when a real backend exists; otherwise a JSON file readable only by the
user (mode 0600) under the station's config folder (StationPaths.secrets).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import SplitResult, quote, unquote, urlsplit, urlunsplit

from station.errors import StationError
from station.paths import StationPaths

SERVICE = "TraceTrackStation"


class SecretError(StationError):
    pass


def _keyring_usable() -> bool:
    if os.environ.get("TRACETRACK_NO_KEYRING"):
        return False
    try:
        import keyring
        from keyring.backends import fail
    except Exception:  # noqa: BLE001 - no keyring package or a broken one: use the file
        return False
    try:
        backend = keyring.get_keyring()
    except Exception:  # noqa: BLE001
        return False
    if isinstance(backend, fail.Keyring):
        return False
    # The chainer with nothing in it, or a null backend, stores nothing.
    return getattr(backend, "priority", 0) > 0 and type(backend).__name__ != "NullKeyring"


@contextmanager
def _keyring_errors() -> Iterator[None]:
    """A keyring that is there but cannot be used now (locked: an SSH session into the kiosk)
    is a SecretError saying so and how to use the file instead."""
    from keyring.errors import KeyringError, PasswordDeleteError

    try:
        yield
    except PasswordDeleteError:
        raise
    except KeyringError as exc:
        raise SecretError(
            f"The system keyring cannot be used now ({exc or type(exc).__name__}): unlock it "
            "(log in at the station's desktop), or keep the station's token in a user-only file "
            "instead by running the station with TRACETRACK_NO_KEYRING=1 and connecting it again"
        ) from exc


class SecretStore:
    """Get, set and delete the secret of one station (keyed by its folder and station id)."""

    def __init__(self, paths: StationPaths, *, use_keyring: bool | None = None) -> None:
        self.paths = paths
        self.use_keyring = _keyring_usable() if use_keyring is None else use_keyring

    @property
    def where(self) -> str:
        return "the system keyring" if self.use_keyring else str(self.paths.secrets)

    def _account(self, station_id: str) -> str:
        return f"{station_id}@{self.paths.data_dir}"

    def set(self, station_id: str, secret: str) -> None:
        if self.use_keyring:
            import keyring

            with _keyring_errors():
                keyring.set_password(SERVICE, self._account(station_id), secret)
            return
        data = self._read_file()
        data[station_id] = secret
        self._write_file(data)

    def get(self, station_id: str) -> str | None:
        if self.use_keyring:
            import keyring

            with _keyring_errors():
                return keyring.get_password(SERVICE, self._account(station_id))
        return self._read_file().get(station_id)

    def delete(self, station_id: str) -> None:
        if self.use_keyring:
            import keyring
            from keyring.errors import PasswordDeleteError

            try:
                with _keyring_errors():
                    keyring.delete_password(SERVICE, self._account(station_id))
            except PasswordDeleteError:
                pass
            return
        data = self._read_file()
        if data.pop(station_id, None) is not None:
            self._write_file(data)

    # -- the 0600 file ----------------------------------------------------------------------

    def _read_file(self) -> dict[str, str]:
        path = self.paths.secrets
        if not path.exists():
            return {}
        mode = path.stat().st_mode & 0o777
        if os.name == "posix" and mode & 0o077:
            raise SecretError(
                f"{path} can be read by other users (mode {mode:o}): the station will not use it. "
                f"Run: chmod 600 {path}"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError) as exc:
            raise SecretError(f"The secrets file {path} cannot be read: {exc}") from exc
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _write_file(self, data: dict[str, str]) -> None:
        path: Path = self.paths.secrets
        try:
            self._replace_file(path, data)
        except OSError as exc:  # a full disk, a read-only folder: the file stays as it was
            raise SecretError(
                f"The secrets file {path} cannot be written: {exc.strerror or exc}. Nothing was "
                "changed in it. Free some disk space (or make the folder writable), then try again."
            ) from exc

    @staticmethod
    def _replace_file(path: Path, data: dict[str, str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        # Created 0600 from the start: the secret is never readable by others, not even briefly.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)


def split_secret(url: str) -> tuple[str, str | None]:
    """'postgresql://u:pw@h/db' -> ('postgresql://u@h/db', 'pw'); a URL without one is unchanged."""
    parts = urlsplit(url)
    if parts.password is None:
        return url, None
    netloc = quote(unquote(parts.username or ""), safe="")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{netloc}@{host}" if netloc else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    clean = SplitResult(parts.scheme, netloc, parts.path, parts.query, parts.fragment)
    return urlunsplit(clean), unquote(parts.password)


def join_secret(url: str, secret: str | None) -> str:
    """Put the secret back into a settings URL (only in memory, for the transport)."""
    if not secret or not url.startswith(("postgresql", "postgres")):
        return url
    parts = urlsplit(url)
    if parts.password is not None:
        return url
    user = parts.username or ""
    host_part = parts.netloc.split("@", 1)[-1]
    netloc = f"{quote(unquote(user), safe='')}:{quote(secret, safe='')}@{host_part}"
    return urlunsplit(SplitResult(parts.scheme, netloc, parts.path, parts.query, parts.fragment))
