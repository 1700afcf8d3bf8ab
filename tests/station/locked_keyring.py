"""A system keyring that is there but locked (an SSH session into a kiosk whose login keyring
was never unlocked), chosen with keyring's own PYTHON_KEYRING_BACKEND: every call fails the way
the Secret Service backend fails then."""

from __future__ import annotations

from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked


class LockedKeyring(KeyringBackend):
    priority = 1  # a real backend, as keyring counts them

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("Failed to unlock the keyring!")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked("Failed to unlock the keyring!")

    def delete_password(self, service: str, username: str) -> None:
        raise KeyringLocked("Failed to unlock the keyring!")
