"""A station that comes back with a new or older store (reinstalled, restored from a backup)
learns what the centre already holds under its id, and numbers its events after it.

The centre keeps, per station, the count, highest sequence and rolling hash of the events it
received (docs/sync.md §16). A store made afresh for the same station id would start numbering
at 1 again, and the centre would refuse every reused number as `seq_conflict`. So, once per
connection, before anything is pushed, the worker asks the centre for its figures and compares
them with the store's own events up to the centre's highest sequence:
- they agree (or the centre holds nothing): nothing to do;
- the centre holds more than the store knows of (its chain is not the store's): the store's
  pending events are renumbered after the centre's highest sequence (their ids stay: an event is
  the same event under a new number), new scans continue after them, and the centre's figures
  become the base the store's own figures build on, so the convergence check agrees again;
- the store holds acknowledged events the centre no longer has (the centre was restored): left
  to the convergence check, which sends them again.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.engine import Connection

from station.events import SyncState
from station.store.schema import SEQ_FLOOR_KEY, events, links
from sync import pull as pull_mod
from sync.protocol import PushReply, rolling_hash

log = logging.getLogger(__name__)

RESEND_REQUESTED = "resend_requested"  # as sync/worker.py marks an event to send again

# sync_state keys
BASE = "centre_base"  # "count seq hash": the centre's figures this store continues from
SEQ_FLOOR = SEQ_FLOOR_KEY  # the station's next event number is above this (station/service.py)
HASH_SEQ = "hash_seq"  # the worker's cache of the rolling hash up to a sequence (worker.py)
HASH_VALUE = "hash_value"
CENTRE_ID = "centre_id"  # the identity of the centre this store syncs with


def known_centre(conn: Connection) -> str | None:
    """The id of the centre this store last synced with (read on its own, e.g. on the worker's
    reading connection: the usual answer is "the same one", and nothing is written then)."""
    with conn.begin():
        return pull_mod.get_sync_state(conn, CENTRE_ID)


def note_centre(conn: Connection, centre_id: str | None,
                also_reset: tuple[str, ...] = ()) -> str | None:
    """Remember which centre this store syncs with. When it is another one than before (the
    station was connected to another centre: a trial centre, then the real one), what belonged
    to the old one is let go: the download position and the figures this store continued from,
    so the new centre's state is downloaded afresh and the stores' figures are compared from
    scratch. Returns a sentence for the operator when that happened. One local transaction."""
    if not centre_id:
        return None  # a centre that does not say (an older service): nothing to compare
    with conn.begin():
        known = pull_mod.get_sync_state(conn, CENTRE_ID)
        if known == centre_id:
            return None  # the usual case: nothing written
        pull_mod.set_sync_state(conn, CENTRE_ID, centre_id)
        if known is None:
            return None
        for key in (pull_mod.PULL_CURSOR, pull_mod.BOOTSTRAPPED, pull_mod.DOWNLOAD_USERS, BASE,
                    HASH_SEQ, HASH_VALUE,
                    *also_reset):
            pull_mod.set_sync_state(conn, key, None)
    msg = ("This station is now connected to another centre than before: its bags, bills and "
           "users are downloaded afresh from it, and the events of this station it lacks are "
           "sent to it")
    log.warning(msg)
    return msg


def base_of(conn: Connection) -> tuple[int, int, str]:
    """(count, highest seq, rolling hash) of the centre's events this store continues from."""
    raw = pull_mod.get_sync_state(conn, BASE)
    if not raw:
        return 0, 0, ""
    count, seq, *rest = raw.split(" ")
    return int(count), int(seq), rest[0] if rest else ""


def _local_chain(conn: Connection, upto: int, base: tuple[int, int, str]) -> tuple[int, int, str]:
    """The store's own (count, high, hash) over events up to `upto`, on top of its base."""
    b_count, b_seq, b_hash = base
    ids = conn.execute(
        select(events.c.event_id).where(events.c.seq > b_seq, events.c.seq <= upto)
        .order_by(events.c.seq)
    ).scalars().all()
    h = b_hash
    for eid in ids:
        h = rolling_hash(h, eid)
    high = conn.execute(
        select(func.coalesce(func.max(events.c.seq), 0)).where(events.c.seq <= upto)
    ).scalar_one()
    return b_count + len(ids), max(int(high), b_seq), h


def _unknown_held(conn: Connection, centre: PushReply) -> tuple[int, int, str] | None:
    """The store's base when the centre holds events of this station the store does not know
    (in the caller's transaction), else None."""
    if centre.high_seq <= 0:
        return None
    base = base_of(conn)
    if centre.high_seq <= base[1]:
        return None  # already continuing after it (or the centre lost events: §16)
    count, high, h = _local_chain(conn, centre.high_seq, base)
    if (count, high, h) == (centre.station_count, centre.high_seq, centre.rolling_hash):
        return None  # the store knows everything the centre holds
    acked_high = conn.execute(
        select(func.coalesce(func.max(events.c.seq), 0)).where(
            events.c.sync_state != SyncState.PENDING.value)
    ).scalar_one()
    if int(acked_high) > centre.high_seq:
        return None  # the centre is behind this store: the convergence check resends
    return base


def holds_unknown(conn: Connection, centre: PushReply) -> bool:
    """Whether the centre holds events of this station that this store does not know of: then,
    before anything is renumbered, the events this store still has queued under numbers the
    centre has used are sent as they are (sync/worker.py). Those the centre holds already (a
    store restored from a backup made before they were sent) come back with their first
    results and are marked; the centre refuses the others as `seq_conflict` without recording
    them, and `align` renumbers those."""
    with conn.begin():
        return _unknown_held(conn, centre) is not None


def align(conn: Connection, centre: PushReply) -> str | None:
    """Compare the store with the centre's figures for this station; renumber and take the
    centre's figures as the base when the centre holds events the store does not. Returns a
    message for the operator when it did, else None. One local transaction. Every pending
    event after the base is renumbered: those under numbers the centre has used were sent as
    they are first (`holds_unknown`), so what is still pending is not at the centre."""
    with conn.begin():
        base = _unknown_held(conn, centre)
        if base is None:
            return None
        moved = _renumber_pending(conn, after=centre.high_seq, from_seq=base[1])
        pull_mod.set_sync_state(
            conn, BASE, f"{centre.station_count} {centre.high_seq} {centre.rolling_hash}")
        pull_mod.set_sync_state(conn, SEQ_FLOOR, str(centre.high_seq))
        pull_mod.set_sync_state(conn, HASH_SEQ, str(centre.high_seq))
        pull_mod.set_sync_state(conn, HASH_VALUE, centre.rolling_hash)
    msg = (f"The centre already holds {centre.station_count} events of this station (up to "
           f"number {centre.high_seq}) that this store does not have (a reinstalled or restored "
           f"station): {moved} queued event{'s' if moved != 1 else ''} renumbered after them, "
           "new scans continue from there. Nothing was lost here or at the centre.")
    log.warning(msg)
    return msg


def _renumber_pending(conn: Connection, *, after: int, from_seq: int) -> int:
    """Give the pending events above `from_seq` the numbers after `after`, in their order."""
    rows = conn.execute(
        select(events.c.seq).where(
            events.c.seq > from_seq, events.c.sync_state == SyncState.PENDING.value,
            # an event a person asked to send again is the centre's already (and has its issue)
            or_(events.c.result_reason.is_(None), events.c.result_reason != RESEND_REQUESTED))
        .order_by(events.c.seq)
    ).scalars().all()
    if not rows:
        return 0
    mapping = {old: after + 1 + i for i, old in enumerate(rows)}
    # two steps (through negative numbers) so no new number meets an old one
    for old in rows:
        _move(conn, old, -old)
    for old, new in mapping.items():
        _move(conn, -old, new)
    return len(rows)


def _move(conn: Connection, old: int, new: int) -> None:
    conn.execute(update(events).where(events.c.seq == old).values(seq=new))
    conn.execute(update(links).where(links.c.event_seq == old).values(event_seq=new))


def centre_figures(transport: Any) -> PushReply | None:
    """The centre's figures for this station, when the transport can ask for them."""
    status = getattr(transport, "status", None)
    return status() if callable(status) else None


def matching_prefix(conn: Connection, centre: PushReply) -> int | None:
    """The highest sequence number up to which this store's events are exactly what the centre
    holds (the same count, high sequence and rolling hash as `centre`), or None when no prefix of
    the store matches (the centre holds something else). After the centre lost this station's
    last events (restored from a backup), the events after it are exactly the ones it lacks."""
    b_count, b_seq, b_hash = base_of(conn)
    target = (centre.station_count, centre.high_seq, centre.rolling_hash)
    if (b_count, b_seq, b_hash) == target:
        return b_seq
    count, h = b_count, b_hash
    ids = conn.execute(
        select(events.c.seq, events.c.event_id).where(events.c.seq > b_seq)
        .order_by(events.c.seq)
    )
    for seq, eid in ids:
        if seq > centre.high_seq:
            break
        count += 1
        h = rolling_hash(h, eid)
        if (count, int(seq), h) == target:
            return int(seq)
    return None
