"""TraceTrack Station core: code rules, local event store, operations. No Qt here."""

__version__ = "0.1.0"
APP_VERSION = __version__
PROTOCOL_VERSION = 1
