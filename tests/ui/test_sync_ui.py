"""The sync bridge and the sync issues screen in the real window, against a real centre (its
sync service, a real `tracetrack-central serve` process)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from sync.worker import SyncIssue
from tests.sync.conftest import Events, _central_template, central_db, central_url, push_as  # noqa: F401
from tests.sync.proxy import TcpProxy
from tests.sync.stationkit import central_scalar, upstream_of, via_proxy
from tests.ui.conftest import log_in, scan_keys
from ui.sync_issues_screen import SyncIssuesModel


def _issue(i: int, acked: bool = False) -> SyncIssue:
    return SyncIssue(i, i, "child_linked", f"C{i:04d} SB00001", "dispatcher",
                     "2026-11-20T10:41:00.000+00:00", "child_on_other_parent",
                     f"C{i:04d} is already in SB00077", "2026-11-20T11:00:00.000+00:00",
                     "biller" if acked else None, "2026-11-20T12:00:00.000+00:00" if acked else None)


def test_issues_model_passes_the_model_tester(qtmodeltester) -> None:
    model = SyncIssuesModel()
    model.set_rows([_issue(1), _issue(2, acked=True), _issue(3)])
    qtmodeltester.check(model)
    assert model.rowCount() == 3
    assert model.data(model.index(0, 4)) == "child_on_other_parent"
    assert model.data(model.index(1, 6)).startswith("biller 2026-11-20 12:00")
    model.set_rows([])
    qtmodeltester.check(model)


@pytest.mark.central
def test_rejection_reaches_the_screen_and_a_biller_acknowledges_it(
    window, qtbot, central_db  # noqa: F811
) -> None:
    other = central_db.add_station("D2")
    ev = Events("D2")
    url = central_db.add_station("T1")
    bridge = window.attach_sync(lambda: url.transport(),
                                backoff_base_s=0.05, backoff_cap_s=0.5, interval_s=30)
    panel = window.status_panel
    try:
        qtbot.waitUntil(lambda: panel.centre_label.text() == "centre: online", timeout=15000)
        log_in(window, qtbot)
        qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=3000)
        scan_keys(window, qtbot, "SB00001")
        scan_keys(window, qtbot, "C0001")
        qtbot.waitUntil(lambda: central_scalar(central_db.url,
                                               "SELECT count(*) FROM station_events WHERE station_id = 'T1'") == 2,
                        timeout=15000)
        # The network goes away (the worker stops); meanwhile another station puts C1234 into
        # SB00077, and this one, not knowing, accepts it. Then the network is back.
        bridge.stop()
        push_as(other, "D2", [ev.parent("SB00077"), ev.link("SB00077", "C1234")])
        scan_keys(window, qtbot, "C1234")
        assert panel.issues_label.text() == "no sync issues"
        assert bridge.start()
        # The scans wake the worker; the centre takes two and refuses C1234.
        qtbot.waitUntil(lambda: central_scalar(central_db.url,
                                               "SELECT count(*) FROM station_events WHERE station_id = 'T1'") == 3,
                        timeout=15000)
        qtbot.waitUntil(lambda: panel.issues_label.text() == "1 sync issue", timeout=15000)

        def drained_and_online() -> None:  # asserts, so a timeout says what was on screen
            summary = bridge.last_summary
            assert (panel.pending_label.text(), panel.centre_label.text()) == (
                "0 pending", "centre: online"), summary

        # (the pull after the push shows "syncing" a moment longer)
        qtbot.waitUntil(drained_and_online, timeout=15000)

        screen = window.sync_issues_screen
        QTest.keyClick(window, Qt.Key.Key_F8)
        assert window.current_screen_key == "sync_issues"
        qtbot.waitUntil(lambda: screen.model.rowCount() == 1, timeout=5000)
        row = screen.model.rows[0]
        assert row.reason == "child_on_other_parent"
        assert "C1234 is already in SB00077" in row.message
        # A dispatcher sees it but may not acknowledge it.
        assert not screen.ack_all_button.isEnabled()

        window.log_out()
        qtbot.waitUntil(lambda: window.operator is None, timeout=5000)
        log_in(window, qtbot, "biller")
        QTest.keyClick(window, Qt.Key.Key_F8)
        qtbot.waitUntil(lambda: window.current_screen_key == "sync_issues", timeout=3000)
        assert screen.ack_all_button.isEnabled()
        qtbot.mouseClick(screen.ack_all_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: screen.model.rowCount() == 0, timeout=5000)
        assert "1 sync issue acknowledged" == screen.message.text()
        qtbot.waitUntil(lambda: panel.issues_label.text() == "no sync issues", timeout=5000)
        screen.show_all.setChecked(True)
        qtbot.waitUntil(lambda: screen.model.rowCount() == 1, timeout=5000)
        assert screen.model.rows[0].acknowledged_by == "biller"
    finally:
        bridge.stop()


@pytest.mark.central
def test_status_bar_shows_offline_then_online(window, qtbot, central_db) -> None:  # noqa: F811
    url = central_db.add_station("T1")
    with TcpProxy(upstream_of(url)) as proxy:
        proxy.refuse(True)  # connections are taken and closed at once: no answer ever comes
        bridge = window.attach_sync(lambda: via_proxy(url, proxy).transport(connect_timeout=2),
                                    backoff_base_s=0.05, backoff_cap_s=0.3, interval_s=30)
        panel = window.status_panel
        try:
            qtbot.waitUntil(lambda: panel.centre_label.text() == "centre: offline", timeout=15000)
            qtbot.waitUntil(lambda: bridge.last_summary is not None
                            and bridge.last_summary.state == "offline", timeout=5000)
            assert "cut before its answer" in bridge.last_summary.error
            assert _pending_events(window.store) == 0  # nothing scanned yet: nothing lost
            proxy.refuse(False)
            qtbot.waitUntil(lambda: panel.centre_label.text() == "centre: online", timeout=15000)
            qtbot.waitUntil(lambda: panel.last_sync_label.text().startswith("last sync "),
                            timeout=5000)
        finally:
            bridge.stop()


@pytest.mark.central
def test_clock_skew_over_five_minutes_is_shown_and_scanning_goes_on(
    window, qtbot, central_db  # noqa: F811
) -> None:
    from datetime import timedelta

    from station.store.local import utcnow

    url = central_db.add_station("T1")
    bridge = window.attach_sync(lambda: url.transport(),
                                clock=lambda: utcnow() + timedelta(minutes=7), interval_s=30)
    panel = window.status_panel
    try:
        qtbot.waitUntil(lambda: "clock is 7 min ahead" in panel.currentMessage(), timeout=15000)
        assert panel.centre_label.text() == "centre: online"
        log_in(window, qtbot)
        qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=3000)
        scan_keys(window, qtbot, "SB00001")
        qtbot.waitUntil(lambda: central_scalar(
            central_db.url, "SELECT count(*) FROM station_events WHERE station_id = 'T1'") == 1,
            timeout=15000)
    finally:
        bridge.stop()


def _pending_events(store) -> int:  # noqa: ANN001
    with store.engine.connect() as conn:
        n = conn.exec_driver_sql("SELECT count(*) FROM events WHERE sync_state='pending'").scalar()
        conn.rollback()
    return int(n)


def _open_connect_form(window, qtbot):  # noqa: ANN001, ANN202
    """The sync issues screen as an admin (a dispatcher may look but not connect)."""
    screen = window.sync_issues_screen
    log_in(window, qtbot, "dispatcher")
    QTest.keyClick(window, Qt.Key.Key_F8)
    qtbot.waitUntil(lambda: window.current_screen_key == "sync_issues", timeout=3000)
    assert not screen.connect_button.isEnabled()  # admins only
    assert not screen.token_edit.isEnabled()
    window.log_out()
    qtbot.waitUntil(lambda: window.operator is None, timeout=5000)
    log_in(window, qtbot, "admin")
    QTest.keyClick(window, Qt.Key.Key_F8)
    qtbot.waitUntil(lambda: window.current_screen_key == "sync_issues", timeout=3000)
    assert screen.connect_button.isEnabled()
    assert screen.centre_label.text() == "Centre: not connected"
    return screen


def _type_and_connect(qtbot, screen, url: str, token: str) -> None:  # noqa: ANN001
    QTest.keyClicks(screen.url_edit, url)
    QTest.keyClicks(screen.token_edit, token)
    assert screen.url_edit.text() == url and screen.token_edit.text() == token
    qtbot.mouseClick(screen.connect_button, Qt.MouseButton.LeftButton)


@pytest.mark.central
def test_admin_connects_the_station_from_the_window(window, qtbot, central_db, monkeypatch) -> None:  # noqa: F811
    from station.secrets import SecretStore

    monkeypatch.setenv("TRACETRACK_NO_KEYRING", "1")
    access = central_db.add_station("T1")
    bridge = window.attach_sync(backoff_base_s=0.05, backoff_cap_s=0.5, interval_s=30)
    assert bridge.worker is None  # not connected yet: the station works alone
    assert bridge.problem == "this station is not connected to a centre"
    screen = _open_connect_form(window, qtbot)
    try:
        _type_and_connect(qtbot, screen, access.url, access.token)
        qtbot.waitUntil(lambda: screen.message.text().startswith("Connected"), timeout=15000)
        assert f"the centre at {access.url} knows this station (T1)" in screen.message.text()
        qtbot.waitUntil(lambda: window.status_panel.centre_label.text() == "centre: online",
                        timeout=15000)
        assert screen.centre_label.text() == f"Centre: {access.url}"
        assert window.settings.central_url == access.url
        assert bridge.worker is not None and bridge.worker.running
        assert bridge.problem is None
        for f in window.store.paths.data_dir.iterdir():  # the store, its WAL, the UI settings
            if f.is_file() and f.name != "secrets.json":
                assert access.token not in f.read_bytes().decode("latin-1"), f.name
        assert SecretStore(window.store.paths).get("T1") == access.token
        assert screen.token_edit.text() == "" and screen.url_edit.text() == ""
        # A scan now reaches the centre through the connection made here.
        window.log_out()
        qtbot.waitUntil(lambda: window.operator is None, timeout=5000)
        log_in(window, qtbot)
        qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=3000)
        scan_keys(window, qtbot, "SB00001")
        qtbot.waitUntil(lambda: central_scalar(
            central_db.url, "SELECT count(*) FROM station_events WHERE station_id = 'T1'") == 1,
            timeout=15000)
    finally:
        bridge.stop()


@pytest.mark.central
@pytest.mark.parametrize("case", ["wrong_token", "database_url", "closed_port"])
def test_connect_that_cannot_work_says_why_and_keeps_nothing(
    window, qtbot, central_db, monkeypatch, case  # noqa: F811
) -> None:
    from station.secrets import SecretStore
    from tests.sync.service_proc import free_port

    monkeypatch.setenv("TRACETRACK_NO_KEYRING", "1")
    access = central_db.add_station("T1")
    url, token = access.url, access.token
    if case == "wrong_token":
        token = "tt_" + "x" * 40
    elif case == "database_url":
        url = f"postgresql://tt_station:secret@127.0.0.1:{upstream_of(access)[1]}/central"
    else:
        url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    bridge = window.attach_sync(backoff_base_s=0.05, backoff_cap_s=0.5, interval_s=30)
    screen = _open_connect_form(window, qtbot)
    try:
        _type_and_connect(qtbot, screen, url, token)
        qtbot.waitUntil(lambda: screen.connect_button.isEnabled()
                        and not screen.message.text().startswith("Trying"), timeout=15000)
        text = screen.message.text()
        if case == "wrong_token":
            assert text.startswith("Not connected: ")
            assert "does not know this station token" in text
            assert "Nothing was changed." in text and ".." not in text
        elif case == "database_url":
            # Refused before anything is tried: the old kind of setting, with the way out.
            assert "is a database address" in text
            assert "add-station" in text and "https://" in text and "token" in text
            assert "secret" not in text  # the password in what was typed is not echoed
        else:
            assert text.startswith("Not connected: ")
            assert "cannot be reached" in text and url in text
        # Nothing was kept: no address, no token, no worker; what was typed stays to be fixed.
        assert window.settings.central_url == ""
        assert window.store.settings().central_url == ""
        assert SecretStore(window.store.paths).get("T1") is None
        assert screen.centre_label.text() == "Centre: not connected"
        assert bridge.worker is None
        assert screen.url_edit.text() == url
        assert central_scalar(central_db.url, "SELECT count(*) FROM station_events") == 0
    finally:
        bridge.stop()


def test_a_centre_slow_to_answer_connect_does_not_hold_up_scans(window, qtbot, monkeypatch) -> None:
    """Connect asks a centre that takes the connection and says nothing (a hung proxy): the
    question waits on a thread of its own, so a scan made meanwhile is recorded at once (before,
    it waited behind Connect on the store's task thread, 15 s), and nothing is kept."""
    import socket
    import time

    monkeypatch.setenv("TRACETRACK_NO_KEYRING", "1")
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # takes connections, never answers
    url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    bridge = window.attach_sync()
    screen = _open_connect_form(window, qtbot)
    try:
        _type_and_connect(qtbot, screen, url, "tts_" + "a" * 40)
        assert screen.message.text().startswith("Trying")
        QTest.keyClick(window, Qt.Key.Key_F2)
        qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=3000)
        before = window.reads_handled
        t0 = time.monotonic()
        scan_keys(window, qtbot, "SB00001")
        qtbot.waitUntil(lambda: window.reads_handled > before, timeout=30000)
        took = time.monotonic() - t0
        assert took < 3.0, f"the scan waited {took:.1f} s behind Connect"
        assert "SB00001" in window.station_screen.banner.text()
        assert screen.message.text().startswith("Trying")  # still asking
        silent.close()  # the centre goes away: Connect says so, and keeps nothing
        qtbot.waitUntil(lambda: screen.message.text().startswith("Not connected"), timeout=20000)
        assert window.settings.central_url == "" and bridge.worker is None
    finally:
        silent.close()
        bridge.stop()


def test_settings_set_at_the_centre_take_effect_in_the_running_window(
    window, qtbot, central_db  # noqa: F811
) -> None:
    """Settings the centre sets come with a pull and apply in the window at once (sounds,
    scanner timing), without a restart; the station's store holds them too."""
    from tests.sync.stationkit import central_exec

    def centre_sets(**values: str) -> None:
        for name, value in values.items():
            central_exec(central_db.url,
                         "INSERT INTO station_centre_settings (key, value) VALUES (%s, %s) "
                         "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                         f"station.{name}", value)

    assert window.settings.sound_muted is False and window.sounds.muted is False
    centre_sets(sound_muted="yes", scanner_max_gap_ms="50")
    url = central_db.add_station("T1")
    bridge = window.attach_sync(lambda: url.transport(), interval_s=30)
    try:
        qtbot.waitUntil(lambda: window.settings.sound_muted is True, timeout=20000)
        assert window.sounds.muted is True
        assert window.scanner_input.detector.max_gap_ms == 50
        assert window.store.settings().scanner_max_gap_ms == 50
        centre_sets(sound_muted="no", scanner_max_gap_ms="40")
        assert bridge.worker is not None
        bridge.worker.wake()
        qtbot.waitUntil(lambda: window.settings.scanner_max_gap_ms == 40, timeout=20000)
        assert window.sounds.muted is False and window.scanner_input.detector.max_gap_ms == 40
    finally:
        bridge.stop()


def test_a_sync_that_cannot_start_is_said_not_shown_as_online(window, qtbot, monkeypatch) -> None:
    """The station synced last session ("online" stored), but its token cannot be read now
    (its secrets file copied with the wrong rights): the status bar says it is not syncing, and
    why (before: "centre: online" half a second later, with no worker at all)."""
    import os

    from station.centre import save_connection
    from sync import pull as pull_mod

    monkeypatch.setenv("TRACETRACK_NO_KEYRING", "1")
    store = window.store
    save_connection(store, "http://127.0.0.1:9", "tts_" + "a" * 40)
    with store.connect(write=True) as conn, conn.begin():
        pull_mod.set_sync_state(conn, "centre_state", "online")
    os.chmod(store.paths.secrets, 0o644)
    window.apply_settings(store.settings())  # as a window started on this store would have
    bridge = window.attach_sync()
    try:
        assert bridge.worker is None and bridge.problem
        panel = window.status_panel
        panel.refresh_status()
        qtbot.waitUntil(lambda: panel.status is not None, timeout=5000)
        shown_before = panel.status
        panel.refresh_status()  # a refresh from the store does not bring "online" back
        qtbot.waitUntil(lambda: panel.status is not shown_before, timeout=5000)
        assert panel.centre_label.text() == "centre: not syncing"
        assert panel.currentMessage().startswith("Not syncing: ")
    finally:
        bridge.stop()


def test_closing_the_window_ends_a_request_the_centre_does_not_answer(window, qtbot) -> None:
    """The centre takes the connection and never answers; the window is closed: it does not
    wait on the centre (before: 10 s of a frozen window in its close), and the worker ends with
    its request."""
    import socket
    import threading
    import time

    from sync.transport import HttpTransport

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    silent.settimeout(20)
    url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    bridge = window.attach_sync(lambda: HttpTransport(url, "tts_" + "a" * 40, station_id="T1"))
    def sync_threads() -> list[str]:
        return [t.name for t in threading.enumerate()
                if t.is_alive() and t.name.startswith(("sync-worker", "sync-push", "pull-read"))]

    try:
        conn, _ = silent.accept()  # the worker's request is in flight, waiting for an answer
        t0 = time.monotonic()
        window.close()
        took = time.monotonic() - t0
        assert took < 3.0, took  # the window did not wait on the silent centre
        assert bridge.worker is None
        conn.close()  # the centre goes away: the request in flight ends, and the worker with it
        qtbot.waitUntil(lambda: not sync_threads(), timeout=10000)
    finally:
        silent.close()
        bridge.stop()


@pytest.mark.central
def test_a_setting_from_the_centre_that_is_refused_is_said_in_the_window(
        window, qtbot, central_db) -> None:  # noqa: F811
    """The centre's admin sets a value the station refuses (a scanner gap of 100 s): the window
    says so in its key bar (before: only a line in the log; the centre thought it in force)."""
    from tests.sync.stationkit import central_exec

    central_exec(central_db.url, "INSERT INTO station_centre_settings (key, value) "
                 "VALUES (%s, %s)", "station.scanner_max_gap_ms", "100000")
    access = central_db.add_station("T1")
    bridge = window.attach_sync(lambda: access.transport(), interval_s=30)
    try:
        qtbot.waitUntil(lambda: "NOT applied" in window.key_bar.notice.text(), timeout=20000)
        assert "scanner_max_gap_ms" in window.key_bar.notice.text()
        assert window.settings.scanner_max_gap_ms != 100000
    finally:
        bridge.stop()


@pytest.mark.central
def test_connect_never_waits_on_the_keyring_on_the_gui_thread(
        window, qtbot, central_db, monkeypatch) -> None:  # noqa: F811
    """The system keyring is slow to answer (2 s: a Secret Service waking up): Connect reads the
    token back on the task thread, and the GUI thread keeps running (before: it stood still
    while the bridge read the token to start the worker)."""
    import time

    import keyring
    from keyring.backend import KeyringBackend
    from PySide6.QtCore import QTimer

    class SlowKeyring(KeyringBackend):
        priority = 5  # type: ignore[assignment]

        def __init__(self) -> None:
            super().__init__()
            self.kept: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            time.sleep(2.0)
            return self.kept.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.kept[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            self.kept.pop((service, username), None)

    monkeypatch.delenv("TRACETRACK_NO_KEYRING", raising=False)
    old = keyring.get_keyring()
    keyring.set_keyring(SlowKeyring())
    access = central_db.add_station("T1")
    bridge = window.attach_sync(backoff_base_s=0.05, backoff_cap_s=0.5, interval_s=30)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    try:
        screen = _open_connect_form(window, qtbot)
        timer.start()
        _type_and_connect(qtbot, screen, access.url, access.token)
        qtbot.waitUntil(lambda: screen.message.text().startswith(("Connected", "Not")),
                        timeout=30000)
        timer.stop()
        assert screen.message.text().startswith("Connected"), screen.message.text()
        gap = max(b - a for a, b in zip(ticks, ticks[1:], strict=False))
        assert gap < 0.5, f"the GUI thread stood still {gap:.1f} s during Connect"
    finally:
        timer.stop()
        bridge.stop()
        keyring.set_keyring(old)
