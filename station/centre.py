"""Which centre a station talks to: its sync service's address, the station's token, a CA file.

The address goes to the settings, the token to the keyring or a user-only file (station/secrets.py),
never to the settings or the command line.
"""

from __future__ import annotations

import getpass
import os
import sys
from urllib.parse import urlsplit

from station.errors import StationError
from station.secrets import SecretStore, split_secret
from station.store.local import LocalStore

TOKEN_ENV = "TRACETRACK_CENTRAL_TOKEN"

LEGACY_HINT = (
    "Stations no longer log in to the central database: ask the central administrator for this "
    "station's https:// address and token (tracetrack-central add-station or rotate-token), then "
    "connect with: tracetrack-station sync --central https://... (token from "
    f"{TOKEN_ENV} or typed at the prompt). Nothing was lost: scans stay queued."
)


class CentreSettingError(StationError):
    """An address, token or CA file that cannot be used to reach the centre."""


def is_database_url(url: str) -> bool:
    return url.strip().lower().startswith(("postgresql:", "postgres:", "postgresql+"))


def check_central_url(url: str) -> str:
    """The service address as it will be used (no trailing slash), or CentreSettingError."""
    url = url.strip()
    if is_database_url(url):
        raise CentreSettingError(f"{split_secret(url)[0]} is a database address. {LEGACY_HINT}")
    if not url.lower().startswith(("https://", "http://")):
        raise CentreSettingError(
            f"Not a centre address: {split_secret(url)[0]!r} (expected https://HOST[:PORT], the "
            "address tracetrack-central add-station printed)")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port
    except ValueError as exc:
        raise CentreSettingError(f"The centre address {url!r} cannot be read: {exc}") from exc
    if not host:
        raise CentreSettingError(f"The centre address {url!r} has no host name")
    if parts.username or parts.password:
        raise CentreSettingError(
            "Put no name or password in the centre address: the station's token is given apart "
            f"({TOKEN_ENV} or the prompt)")
    return url.rstrip("/")


def check_token(token: str) -> str:
    token = token.strip()
    if not token:
        raise CentreSettingError(f"No station token given: set {TOKEN_ENV} or type it at the prompt")
    if len(token) > 200 or not token.isascii() or not token.isprintable() or " " in token:
        raise CentreSettingError("That is not a station token (tokens are one word of letters, "
                                 "digits, - and _, as tracetrack-central add-station printed)")
    return token


def read_token(prompt: str = "Station token: ") -> str:
    """The token from TRACETRACK_CENTRAL_TOKEN, else typed at a prompt (never an argument)."""
    token = os.environ.get(TOKEN_ENV, "")
    if not token and sys.stdin is not None and sys.stdin.isatty():
        token = getpass.getpass(prompt)
    if not token:
        raise CentreSettingError(
            f"No station token: set {TOKEN_ENV} (or run from a terminal to be asked for it)")
    return check_token(token)


def check_ca_file(path: str | None) -> str:
    if not path:
        return ""
    p = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(p):
        raise CentreSettingError(f"The CA file {p} does not exist")
    return p


def save_connection(store: LocalStore, url: str, token: str, ca_file: str | None = None) -> str:
    """Keep the centre's address and CA file in the settings, the token aside; returns the URL."""
    clean = check_central_url(url)
    token = check_token(token)
    ca = check_ca_file(ca_file)
    settings = store.settings()
    SecretStore(store.paths).set(settings.station_id, token)
    store.save_settings(settings.replace(central_url=clean, central_ca_file=ca))
    return clean


def stored_token(store: LocalStore) -> str | None:
    return SecretStore(store.paths).get(store.settings().station_id)
