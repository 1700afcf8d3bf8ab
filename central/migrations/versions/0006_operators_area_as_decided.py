"""central: a station downloads the operators of its area however the web system spells it

station_operators() chose a station's operators by `dispatch_area = area`, exactly, while the
centre decides their events comparing areas trimmed and ignoring case
(central.apply_decide._operator_refused). A user the web system wrote with area "north" or
"North " was accepted for events at a North station but never downloaded there, so nobody could
log in as them. The function now compares as deciding does.

Revision ID: c0006
Revises: c0005
Create Date: 2026-12-01 19:45:00
"""

from alembic import op

revision = "c0006"
down_revision = "c0005"
branch_labels = None
depends_on = None


def _function(area_test: str) -> str:
    return f"""CREATE OR REPLACE FUNCTION station_operators(p_station text, p_ids integer[])
RETURNS TABLE (id integer, username text, password_hash text, role text, dispatch_area text)
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = public, pg_temp AS $fn$
DECLARE
    st station_stations;
BEGIN
    st := station_session(p_station);
    RETURN QUERY
        SELECT u.id, u.username::text, u.password_hash::text, u.role::text, u.dispatch_area::text
        FROM "user" u
        WHERE (p_ids IS NULL OR u.id = ANY(p_ids))
          AND (st.scope = 'all' OR {area_test}
               OR lower(u.role) IN ('biller', 'admin'))
        ORDER BY u.id;
END
$fn$;"""


_SPACE = r"E' \t\r\n'"


def upgrade() -> None:
    _run(_function(f"lower(btrim(u.dispatch_area, {_SPACE})) = lower(btrim(st.area, {_SPACE}))"))


def downgrade() -> None:
    _run(_function("u.dispatch_area = st.area"))


def _run(sql: str) -> None:
    cur = op.get_bind().connection.cursor()
    cur.execute(sql)
    cur.close()
