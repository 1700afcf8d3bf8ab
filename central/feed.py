"""Pull: a resumable snapshot of what a station holds, then the change feed with a commit-safe cursor.

The change feed (docs/sync.md §13). Statement-level triggers on the shared tables (also fired by
other applications writing them directly, e.g. the web system) add one station_feed row per
changed row: table, key, and `xid` = pg_current_xact_id() of the writing transaction.

Why not `id > cursor`: ids come from a sequence when the row is written, not when it commits; a
transaction that took id 10 and commits after id 11 was read would be skipped for ever.

The cursor is (xid, id), rows are read in (xid, id) order, and only rows with
xid < pg_snapshot_xmin(pg_current_snapshot()) are returned: every transaction below that xmin
has finished, so the set of feed rows below it is final. A transaction still running has an xid
>= xmin, hence greater than any xid returned so far: its rows, when it commits, sort after the
cursor and are read then. Nothing is skipped; a long-running writer only delays the feed.

Feed rows carry keys, not values: a page resolves each key to the row's state at read time
(an upsert) or, when the row is gone, a delete. Replaying a key twice is harmless, and the order
in which transactions touched a row does not matter. The snapshot records the xmin at its start
and the feed resumes from there, so changes made while the snapshot is read are replayed.

Cursor strings: "b:<phase>:<last key>:<start xid>" while bootstrapping, "f:<xid>:<id>" after.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from central.apply import bag_type_of, load_bag_types
from station.codes import BagType
from sync.centre_settings import CENTRE_PREFIX
from sync.centre_settings import EXTRA_KEY as SETTINGS_EXTRA_KEY
from sync.protocol import PullPage, PullRequest

PHASES = ("bag_type", "user", "bill", "bag", "link", "bill_bag")
UPSERT_ORDER = ("bag_type", "user", "bill", "bag", "link", "bill_bag")
DELETE_ORDER = ("bill_bag", "link", "bag", "bill", "user", "bag_type")
MAX_LIMIT = 20000


class BadCursor(ValueError):
    pass


def iso(dt: datetime | str | None) -> str | None:
    """ISO 8601 UTC with milliseconds, as the station writes times (SQL gives them ready made)."""
    if dt is None or isinstance(dt, str):
        return dt
    return dt.astimezone(UTC).isoformat(timespec="milliseconds")


def ts(col: str) -> str:
    """SQL for a timestamptz column as the same ISO text (cheaper in PostgreSQL than here)."""
    return f"""(to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS') || '+00:00')"""


class _Page:
    """Collects changes for one page: one entry per (table, key), upserts then deletes."""

    def __init__(self) -> None:
        self.upserts: dict[str, dict[Any, dict[str, Any]]] = {t: {} for t in UPSERT_ORDER}
        self.deletes: dict[str, dict[Any, dict[str, Any]]] = {t: {} for t in DELETE_ORDER}

    def upsert(self, table: str, key: Any, row: dict[str, Any]) -> None:
        self.deletes[table].pop(key, None)
        self.upserts[table][key] = row

    def delete(self, table: str, key: Any, row: dict[str, Any]) -> None:
        if key not in self.upserts[table]:
            self.deletes[table][key] = row

    def changes(self) -> list[dict[str, Any]]:
        out = [
            {"table": t, "op": "upsert", "row": r}
            for t in UPSERT_ORDER for r in self.upserts[t].values()
        ]
        out += [
            {"table": t, "op": "delete", "row": r}
            for t in DELETE_ORDER for r in self.deletes[t].values()
        ]
        return out


class _Reader:
    def __init__(self, cur: Any, station_id: str, area: str, scope: str) -> None:
        self.cur = cur
        self.station_id = station_id
        self.area = area
        self.all = scope == "all"
        self.types: tuple[BagType, ...] = load_bag_types(cur)

    # -- area filter --------------------------------------------------------------------------
    def _area_sql(self, alias: str) -> str:
        if self.all:
            return "true"
        return f"({alias}.dispatch_area = %(area)s OR {alias}.dispatch_area IS NULL)"

    def _in_area(self, area: str | None) -> bool:
        return self.all or area is None or area == self.area

    # -- row shapes ---------------------------------------------------------------------------
    _BAG_COLS = ("b.id, b.qr_id, b.type, b.name, b.status, b.child_count, b.weight_kg, "
                 f"b.dispatch_area, {ts('b.created_at')}, {ts('b.updated_at')}")

    def _bag_row(self, r: tuple[Any, ...]) -> dict[str, Any]:
        _id, code, kind, name, status, count, weight, area, created, updated = r
        btype = None
        if kind == "parent":
            t = bag_type_of(code, name, self.types)
            btype = t.name if t else name
        return {
            "code": code, "kind": kind, "bag_type": btype, "status": status,
            "child_count": int(count), "weight_kg": float(weight), "area": area,
            "created_at": iso(created), "updated_at": iso(updated),
        }

    def bags(self, page: _Page, ids: Iterable[int], *, only_outside: bool = False) -> None:
        ids = list(set(ids))
        if not ids:
            return
        self.cur.execute(
            f"SELECT {self._BAG_COLS} FROM bag b WHERE b.id = ANY(%(ids)s)", {"ids": ids}
        )
        for r in self.cur.fetchall():
            if only_outside and self._in_area(r[7]):
                continue
            if only_outside or self._in_area(r[7]):
                page.upsert("bag", r[1], self._bag_row(r))

    def links(self, page: _Page, child_ids: list[int], rows: list[tuple[Any, ...]] | None = None,
              olds: dict[int, list[Any]] | None = None) -> None:
        """Upsert current links of these children (delete where gone); rows may be pre-read;
        `olds`: per child, every removed link row the feed kept (their old parents)."""
        if rows is None:
            self.cur.execute(
                f"SELECT l.child_bag_id, c.qr_id, p.qr_id, {ts('l.created_at')}, "
                "c.dispatch_area, p.dispatch_area, l.parent_bag_id FROM link l "
                "JOIN bag c ON c.id = l.child_bag_id JOIN bag p ON p.id = l.parent_bag_id "
                "WHERE l.child_bag_id = ANY(%(ids)s)",
                {"ids": child_ids},
            )
            rows = self.cur.fetchall()
        keep = [r for r in rows if self._in_area(r[4]) or self._in_area(r[5])]
        origins: dict[str, tuple[str, str]] = {}
        if keep:
            self.cur.execute(
                "SELECT child_code, station_id, operator FROM station_link_origins(%(c)s)",
                {"c": [r[1] for r in keep]},
            )
            origins = {c: (s, o) for c, s, o in self.cur.fetchall()}
        outside: list[int] = []
        for cid, child, parent, created, c_area, p_area, pid in keep:
            st, op = origins.get(child, (None, None))
            page.upsert("link", child, {
                "child_code": child, "parent_code": parent, "linked_at": iso(created),
                "station_id": st, "operator": op,
            })
            if not self._in_area(c_area):
                outside.append(cid)
            if not self._in_area(p_area):
                outside.append(pid)
        if outside:
            self.bags(page, outside, only_outside=True)
        # Gone from this station's view: children with no link now, and children whose link
        # now joins two bags of other areas (moved out of this area's parent: the station still
        # holds the link it was sent before, and nothing else would take it away). Said only to
        # a station that may hold the link (the child is its area's, or the parent it left
        # was), so no station learns another area's codes.
        kept = {r[0] for r in keep}
        gone = [i for i in child_ids if i not in kept]
        if gone:
            # every parent it left in these rows (moved twice, the first may be this area's)
            left = {i: [int(p) for o in (olds or {}).get(i) or [] if (p := o.get("parent_bag_id"))]
                    for i in gone}
            old_parents = [p for ps in left.values() for p in ps]
            self.cur.execute("SELECT id, qr_id, dispatch_area FROM bag WHERE id = ANY(%(ids)s)",
                             {"ids": gone + old_parents})
            bag = {r[0]: (r[1], r[2]) for r in self.cur.fetchall()}
            for i in gone:
                if i not in bag:
                    continue
                code, area = bag[i]
                was_here = any(p in bag and self._in_area(bag[p][1]) for p in left[i])
                if self._in_area(area) or was_here:
                    page.delete("link", code, {"child_code": code})

    def _codes(self, ids: list[int]) -> list[tuple[int, str]]:
        self.cur.execute("SELECT id, qr_id FROM bag WHERE id = ANY(%(ids)s)", {"ids": ids})
        return self.cur.fetchall()

    _BILL_SQL = (
        "SELECT b.id, b.bill_id, b.description, b.destination, b.vehicle_number, "
        f"b.parent_bag_count, b.status, u.username, {ts('b.created_at')}, {ts('b.updated_at')}, "
        "n.closed_reason "
        'FROM bill b LEFT JOIN "user" u ON u.id = b.created_by_id '
        "LEFT JOIN station_bill_notes n ON n.bill_id = b.id "
    )

    def _bill_row(self, r: tuple[Any, ...]) -> dict[str, Any]:
        return {
            "bill_id": str(r[1]).upper(), "description": r[2] or "", "destination": r[3] or "",
            "vehicle": r[4] or "", "target": int(r[5]), "status": r[6], "created_by": r[7],
            "created_at": iso(r[8]), "updated_at": iso(r[9]), "closed_reason": r[10],
        }

    def bills(self, page: _Page, ids: list[int], olds: dict[int, Any]) -> None:
        self.cur.execute(self._BILL_SQL + "WHERE b.id = ANY(%(ids)s)", {"ids": ids})
        found = set()
        for r in self.cur.fetchall():
            found.add(r[0])
            page.upsert("bill", str(r[1]).upper(), self._bill_row(r))
        for i in ids:
            if i not in found and olds.get(i):
                code = str(olds[i].get("bill_id", "")).upper()
                page.delete("bill", code, {"bill_id": code})

    def lines(self, page: _Page, bag_ids: list[int], *, with_bills: bool = False) -> None:
        """Upsert these parents' bill lines (delete where gone); `with_bills`: each line's bill
        too, unless the page has it already (a line may come in the feed before its bill)."""
        self.cur.execute(
            f"SELECT bb.bag_id, p.qr_id, b.bill_id, {ts('bb.created_at')}, b.id FROM bill_bag bb "
            "JOIN bag p ON p.id = bb.bag_id JOIN bill b ON b.id = bb.bill_id "
            "WHERE bb.bag_id = ANY(%(ids)s)",
            {"ids": bag_ids},
        )
        found = set()
        their_bills: set[int] = set()
        for bag_id, parent, bill_code, created, bill_key in self.cur.fetchall():
            found.add(bag_id)
            page.upsert("bill_bag", parent, {
                "parent_code": parent, "bill_id": str(bill_code).upper(), "added_at": iso(created),
            })
            if str(bill_code).upper() not in page.upserts["bill"]:
                their_bills.add(bill_key)
        if with_bills and their_bills:
            # The feed's order is that of the writing transactions' ids, taken at their first
            # write: a line can come before the bill it is on (created and committed by another
            # transaction meanwhile), and a page can end between the two. The station keeps no
            # line of a bill it does not know, and the line would not come again.
            self.cur.execute(self._BILL_SQL + "WHERE b.id = ANY(%(ids)s)",
                             {"ids": sorted(their_bills)})
            for r in self.cur.fetchall():
                page.upsert("bill", str(r[1]).upper(), self._bill_row(r))
        gone = [i for i in bag_ids if i not in found]
        if gone:
            for _id, code in self._codes(gone):
                page.delete("bill_bag", code, {"parent_code": code})

    def users(self, page: _Page, ids: list[int] | None, olds: dict[int, Any],
              renamed: dict[int, set[str]] | None = None) -> None:
        """Operators, by their ids in the feed (None: all the station may hold). `renamed`:
        the names each had before (the feed's old rows): a renamed user leaves its old name."""
        renamed = renamed or {}
        self.cur.execute(
            "SELECT id, username, password_hash, role, dispatch_area "
            "FROM station_operators(%(s)s, %(ids)s)",
            {"s": self.station_id, "ids": ids},
        )
        found = set()
        for uid, name, pw, role, area in self.cur.fetchall():
            found.add(uid)
            page.upsert("user", name, {
                "username": name, "password_hash": pw or "", "role": role, "area": area,
            })
            for was in renamed.get(uid, ()):
                page.delete("user", was, {"username": was})  # (not if another took the name)
        if ids:
            missing = [i for i in ids if i not in found]
            if missing:
                self.cur.execute(
                    'SELECT id, username FROM "user" WHERE id = ANY(%(ids)s)', {"ids": missing}
                )
                names = dict(self.cur.fetchall())
                for i in missing:
                    # gone, or no longer allowed at this station: under every name it had
                    gone = {names.get(i), (olds.get(i) or {}).get("username"),
                            *renamed.get(i, ())}
                    for name in sorted(n for n in gone if n):
                        page.delete("user", name, {"username": name})

    def bag_types(self, page: _Page, ids: list[int] | None, olds: dict[int, Any],
                  renamed: dict[int, set[str]] | None = None) -> None:
        sql = ("SELECT id, name, pattern, lookalike, capacity, nominal_kg, kg_per_child, example "
               "FROM station_bag_types")
        if ids is None:
            self.cur.execute(sql + " ORDER BY id")
        else:
            self.cur.execute(sql + " WHERE id = ANY(%(ids)s)", {"ids": ids})
        renamed = renamed or {}
        found = set()
        for i, name, pattern, lookalike, cap, nominal, kg, example in self.cur.fetchall():
            found.add(i)
            page.upsert("bag_type", name, {
                "name": name, "pattern": pattern, "lookalike": lookalike, "capacity": cap,
                "nominal_kg": float(nominal), "kg_per_child": float(kg), "example": example,
            })
            for was in renamed.get(i, ()):
                page.delete("bag_type", was, {"name": was})
        for i in ids or []:
            if i not in found:
                gone = {(olds.get(i) or {}).get("name"), *renamed.get(i, ())}
                for name in sorted(n for n in gone if n):
                    page.delete("bag_type", name, {"name": name})


def _xmin(cur: Any) -> str:
    cur.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
    return str(cur.fetchone()[0])


def _not_given_yet(cur: Any, xid: str) -> bool:
    """Whether `xid` is past every transaction id this server has given out (a cursor's ids are
    at most the xmin of a snapshot taken when it was given, so never past it)."""
    cur.execute("SELECT %s::xid8 > pg_snapshot_xmax(pg_current_snapshot())", (xid,))
    return bool(cur.fetchone()[0])


def pull_page(cur: Any, station_id: str, area: str, scope: str, req: PullRequest) -> PullPage:
    limit = max(1, min(int(req.limit or 5000), MAX_LIMIT))
    reader = _Reader(cur, station_id, area, scope)
    cursor = req.cursor
    if not cursor:
        cursor = f"b:{PHASES[0]}:0:{_xmin(cur)}"
    parts = cursor.split(":")
    try:
        # the snapshot's transaction id: a number PostgreSQL takes as an xid8 (else a 400, not
        # a database error on this page or on the first page of the feed after it)
        xid_part = parts[3] if parts[0] == "b" and len(parts) == 4 else (
            parts[1] if parts[0] == "f" and len(parts) == 3 else "")
        if not (xid_part.isascii() and xid_part.isdigit() and int(xid_part) < 2 ** 63):
            raise ValueError(cursor)
        if _not_given_yet(cur, xid_part):
            # A transaction id this server has not given out yet: the cursor was given before
            # the database was restored onto a rebuilt server (or back to an earlier point in
            # time), whose ids had gone further. From it, everything written here now would sort
            # before the cursor until this server's ids caught up, and reach no station: the
            # feed starts again from this server's first transaction (a key read again is
            # harmless: it resolves to the row as it is now).
            if parts[0] == "b":
                parts[3] = "0"
            else:
                parts[1:] = ["0", "0"]
        if parts[0] == "b" and len(parts) == 4 and parts[1] in PHASES:
            page = _bootstrap(reader, parts[1], int(parts[2]), parts[3], limit)
        elif parts[0] == "f" and len(parts) == 3:
            page = _feed(reader, parts[1], int(parts[2]), limit)
        else:
            raise ValueError(cursor)
    except ValueError as exc:
        raise BadCursor(f"Pull cursor {cursor!r} is not one this centre gave out") from exc
    if page.done:  # the station settings set here (sync/centre_settings.py) come last
        cur.execute("SELECT substr(key, %s), value FROM station_centre_settings "
                    "WHERE starts_with(key, %s) ORDER BY key",
                    (len(CENTRE_PREFIX) + 1, CENTRE_PREFIX))
        page.extra[SETTINGS_EXTRA_KEY] = {str(k): str(v) for k, v in cur.fetchall()}
    return page


# Snapshot pages are windows of the key range (key > last AND key <= last + limit), not
# "ORDER BY key LIMIT n": right after a bulk load the statistics are stale and the planner would
# sort the whole table for every page; a bounded range always walks the index.
_WINDOW_KEYS = {"bill": ("bill", "id"), "bag": ("bag", "id"), "link": ("link", "child_bag_id"),
                "bill_bag": ("bill_bag", "bag_id")}


def _bootstrap(reader: _Reader, phase: str, last: int, start_xid: str, limit: int) -> PullPage:
    page = _Page()
    cur = reader.cur
    hi = last + limit
    params: dict[str, Any] = {"last": last, "hi": hi, "area": reader.area}
    if phase == "bag_type":
        reader.bag_types(page, None, {})
    elif phase == "user":
        reader.users(page, None, {})
    elif phase == "bill":
        cur.execute(reader._BILL_SQL + "WHERE b.id > %(last)s AND b.id <= %(hi)s", params)
        for r in cur.fetchall():
            page.upsert("bill", str(r[1]).upper(), reader._bill_row(r))
    elif phase == "bag":
        cur.execute(
            f"SELECT {reader._BAG_COLS} FROM bag b WHERE b.id > %(last)s AND b.id <= %(hi)s "
            f"AND {reader._area_sql('b')}",
            params,
        )
        for r in cur.fetchall():
            page.upsert("bag", r[1], reader._bag_row(r))
    elif phase == "link":
        area = "" if reader.all else (
            " AND (c.dispatch_area = %(area)s OR c.dispatch_area IS NULL "
            "OR p.dispatch_area = %(area)s OR p.dispatch_area IS NULL)"
        )
        cur.execute(
            f"SELECT l.child_bag_id, c.qr_id, p.qr_id, {ts('l.created_at')}, c.dispatch_area, "
            "p.dispatch_area, l.parent_bag_id FROM link l "
            "JOIN bag c ON c.id = l.child_bag_id JOIN bag p ON p.id = l.parent_bag_id "
            f"WHERE l.child_bag_id > %(last)s AND l.child_bag_id <= %(hi)s{area}",
            params,
        )
        reader.links(page, [], cur.fetchall())
    elif phase == "bill_bag":
        cur.execute(
            "SELECT bb.bag_id FROM bill_bag bb WHERE bb.bag_id > %(last)s AND bb.bag_id <= %(hi)s",
            params,
        )
        ids = [r[0] for r in cur.fetchall()]
        if ids:
            reader.lines(page, ids)
    exhausted = True
    if phase in _WINDOW_KEYS:
        table, key = _WINDOW_KEYS[phase]
        cur.execute(f"SELECT max({key}) FROM {table}")
        top = cur.fetchone()[0]
        exhausted = top is None or hi >= top
    if exhausted:
        nxt = PHASES.index(phase) + 1
        cursor = f"b:{PHASES[nxt]}:0:{start_xid}" if nxt < len(PHASES) else f"f:{start_xid}:0"
    else:
        cursor = f"b:{phase}:{hi}:{start_xid}"
    return PullPage(page.changes(), cursor, False, True)


def _linked_here(reader: _Reader, gone: dict[int, Any], link_olds: dict[int, list[Any]],
                 bag_olds: dict[int, Any]) -> set[int]:
    """Of the bags `gone`, those at one end of a link removed in these feed rows whose other
    end is (or was, deleted here too) of the station's area."""
    pairs = [(c, int(p)) for c, olds in link_olds.items() for o in olds
             if (p := o.get("parent_bag_id")) is not None and (c in gone or int(p) in gone)]
    if not pairs:
        return set()
    areas = {i: o.get("dispatch_area") for i, o in bag_olds.items() if o}
    others = {i for pair in pairs for i in pair} - set(gone)
    if others:
        reader.cur.execute("SELECT id, dispatch_area FROM bag WHERE id = ANY(%(ids)s)",
                           {"ids": sorted(others)})
        areas.update(reader.cur.fetchall())
    here: set[int] = set()
    for c, p in pairs:
        if any(i in areas and reader._in_area(areas[i]) for i in (c, p)):
            here.update((c, p))
    return here


def _feed(reader: _Reader, xid: str, last_id: int, limit: int) -> PullPage:
    cur = reader.cur
    cur.execute(
        "SELECT f.id, f.xid::text AS xid_text, f.tbl, f.key, f.old FROM station_feed f "
        "WHERE (f.xid, f.id) > (%(xid)s::xid8, %(id)s) "
        "AND f.xid < pg_snapshot_xmin(pg_current_snapshot()) "
        "ORDER BY f.xid, f.id LIMIT %(limit)s",
        {"xid": xid, "id": last_id, "limit": limit},
    )
    rows = cur.fetchall()
    by_table: dict[str, dict[int, Any]] = {t: {} for t in PHASES}
    link_olds: dict[int, list[Any]] = {}  # every removed link row of a child, not the last only
    # every name a user or bag type had before in this page (renamed: c0004's old rows)
    renamed: dict[str, dict[int, set[str]]] = {"user": {}, "bag_type": {}}
    for _id, _xid, tbl, key, old in rows:
        if tbl == "bill" and old is not None and "id" not in old:
            # a closing note's row (station_bill_notes, fed as its bill): its bill_id is the
            # bill's row number, not the bill's id
            old = None
        olds = by_table[tbl]
        if old is not None or key not in olds:
            olds[key] = old
        if tbl == "link" and old is not None:
            link_olds.setdefault(key, []).append(old)
        if tbl in renamed and old is not None:
            was = old.get("username" if tbl == "user" else "name")
            if was:
                renamed[tbl].setdefault(key, set()).add(was)
    page = _Page()
    if by_table["bag_type"]:
        reader.bag_types(page, list(by_table["bag_type"]), by_table["bag_type"],
                         renamed["bag_type"])
    if by_table["user"]:
        reader.users(page, list(by_table["user"]), by_table["user"], renamed["user"])
    if by_table["bill"]:
        reader.bills(page, list(by_table["bill"]), by_table["bill"])
    if by_table["bag"]:
        ids = list(by_table["bag"])
        reader.bags(page, ids)
        cur.execute("SELECT id FROM bag WHERE id = ANY(%(ids)s)", {"ids": ids})
        present = {r[0] for r in cur.fetchall()}
        gone = {i: old for i in ids
                if i not in present and (old := by_table["bag"][i]) and old.get("qr_id")}
        # A child is said gone only to a station that may hold it: its area's, or one whose
        # area's bag was at the other end of a link removed with it; no station hears another
        # area's child codes. A parent goes to every station: bill lines, which every station
        # holds, name parents of any area, and its line goes with it.
        near = _linked_here(reader, gone, link_olds, by_table["bag"]) if gone else set()
        for i, old in gone.items():
            if old.get("type") != "child" or reader._in_area(old.get("dispatch_area")) \
                    or i in near:
                page.delete("bag", old["qr_id"], {"code": old["qr_id"]})
    if by_table["link"]:
        reader.links(page, list(by_table["link"]), olds=link_olds)
    if by_table["bill_bag"]:
        reader.lines(page, list(by_table["bill_bag"]), with_bills=True)
    if rows:
        cursor = f"f:{rows[-1][1]}:{rows[-1][0]}"
    else:
        cursor = f"f:{xid}:{last_id}"
    return PullPage(page.changes(), cursor, len(rows) < limit, False)
