"""Operators follow the centre: a user removed or demoted there acts no more (or with the new
role) from their next action on; after a first download only the centre's operators may log in;
a name is matched as spelt, else ignoring case in any script, never the wrong person."""

from __future__ import annotations

import pytest

from station.auth import make_password_hash
from station.errors import LoginFailed, NotLoggedIn
from station.store.local import upsert_operator
from sync.protocol import PullPage
from sync.pull import apply_page, pull_all


class _OnePage:
    """A centre whose whole first download is one page."""

    def __init__(self, page: PullPage) -> None:
        self.page = page

    def pull(self, _request):  # noqa: ANN001, ANN202
        return self.page


def test_demo_operators_the_centre_does_not_have_cannot_log_in_after_the_first_download(
    store, make_service
) -> None:
    """A demo station (`init --demo`, or the one `make run` makes) connected to a real centre:
    the centre's operators arrive, its first download is done, and the demo accounts must be
    gone (the centre has no `admin` with password `demo`)."""
    page = PullPage([{"table": "user", "op": "upsert", "row": {
        "username": "asha", "password_hash": make_password_hash("s3cret"), "role": "admin",
        "area": "North"}}], "f:1:1", True, True)
    with store.connect(write=True) as conn:
        pull_all(conn, _OnePage(page), "TEST-1")
    assert make_service().login("asha", "s3cret").role == "admin"
    with pytest.raises(LoginFailed):
        make_service().login("admin", "demo")


def test_an_admin_removed_at_the_centre_can_no_longer_act_after_the_pull(
    store, make_service
) -> None:
    """The window's service keeps the Operator of the log-in: after the feed deletes the user
    (or demotes it), it must not go on recording under that name with that role."""
    svc = make_service("biller")
    with store.connect(write=True) as conn, conn.begin():
        apply_page(conn, PullPage([{"table": "user", "op": "delete",
                                    "row": {"username": "biller"}}], "f:1:2", True, False))
    with pytest.raises(LoginFailed):
        make_service().login("biller", "demo")  # a new log-in is refused, as it should be
    with pytest.raises(NotLoggedIn, match="no longer an operator of this station"):
        svc.create_bill("B-77", 5)
    assert svc.operator is None  # logged out here too
    assert svc.lookup_bill("B-77") is None


def test_a_demoted_admin_can_no_longer_reopen_after_the_pull(store, make_service) -> None:
    svc = make_service("admin")
    assert svc.create_bill("B-78", 1).ok
    assert svc.close_bill("B-78", "short").ok
    with store.connect(write=True) as conn, conn.begin():
        apply_page(conn, PullPage([{"table": "user", "op": "upsert", "row": {
            "username": "admin", "password_hash": make_password_hash("demo"),
            "role": "dispatcher", "area": "North"}}], "f:1:2", True, False))
    assert make_service().login("admin", "demo").role == "dispatcher"
    r = svc.reopen_bill("B-78")
    assert not r.ok, f"a demoted admin still reopened a bill: {r.message}"


def test_a_name_with_a_non_ascii_capital_logs_in_as_typed(store, make_service) -> None:
    with store.connect(write=True) as conn, conn.begin():
        upsert_operator(conn, "Émile", make_password_hash("pw"), "dispatcher", "North")
    assert make_service().login("Émile", "pw").username == "Émile"
    assert make_service().login("émile", "pw").username == "Émile"  # any case, any script


def test_wrong_passwords_of_one_user_never_lock_another_whose_name_differs_in_case(
    store, make_service
) -> None:
    """The web system's user names are unique as written ("Asha" and "asha" may both exist)."""
    with store.connect(write=True) as conn, conn.begin():
        upsert_operator(conn, "Asha", make_password_hash("first"), "dispatcher", "North")
        upsert_operator(conn, "asha", make_password_hash("second"), "admin", "North")
    op = make_service().login("asha", "second")  # typed exactly as the centre has it
    assert op.username == "asha" and op.role == "admin"
