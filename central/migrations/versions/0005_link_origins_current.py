"""central: a link's origin is the station event that made the link as it is now

station_link_origins() gave, for each child, the last station event that linked it, whatever
parent that event named. A child a dispatcher linked at a station and the web system then moved
to another parent was still credited to that dispatcher: the undo rule let them take it out of
the parent they never filled, and stations were told they had made that link. Now an origin is
given only when that event's parent is the child's parent now; otherwise the link is the
central system's (no origin).

Revision ID: c0005
Revises: c0004
Create Date: 2026-12-01 19:30:00
"""

from alembic import op

revision = "c0005"
down_revision = "c0004"
branch_labels = None
depends_on = None

_HEAD = """CREATE OR REPLACE FUNCTION station_link_origins(p_children text[])
RETURNS TABLE (child_code text, station_id text, operator text, device_time text)
LANGUAGE sql STABLE SECURITY INVOKER SET search_path = public, pg_temp AS $fn$
"""

_LAST_EVENT = """
    SELECT DISTINCT ON (e.child_code) e.child_code, e.station_id, e.operator, e.device_time,
           e.parent_code
    FROM station_events e
    WHERE e.type = 'child_linked' AND e.result = 'applied' AND e.child_code = ANY(p_children)
    ORDER BY e.child_code, e.id DESC
"""


def upgrade() -> None:
    _run(_HEAD + f"""
    SELECT o.child_code, o.station_id, o.operator, o.device_time FROM ({_LAST_EVENT}) o
    WHERE EXISTS (
        SELECT 1 FROM bag c JOIN link l ON l.child_bag_id = c.id
        JOIN bag p ON p.id = l.parent_bag_id
        WHERE c.qr_id = o.child_code AND p.qr_id = upper(btrim(o.parent_code)))
$fn$;""")


def downgrade() -> None:
    _run(_HEAD + f"""
    SELECT o.child_code, o.station_id, o.operator, o.device_time FROM ({_LAST_EVENT}) o
$fn$;""")


def _run(sql: str) -> None:
    cur = op.get_bind().connection.cursor()
    cur.execute(sql)
    cur.close()
