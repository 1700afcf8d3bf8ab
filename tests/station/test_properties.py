"""Property tests: arbitrary reads never raise anything but our refusal, never store a bad code."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from station.codes import (
    BILL_ID_PATTERN,
    CHILD_PATTERN,
    DEFAULT_BAG_TYPES,
    _normalise_each,
    classify,
    normalise,
)
from station.errors import CodeRefused
from station.store.schema import bags, bills

PARENT_RES = [re.compile(t.pattern) for t in DEFAULT_BAG_TYPES]

# Reads that look like what scanners send, plus anything at all.
plausible = st.one_of(
    st.from_regex(r"\A(SB|sb|M444-|m444-)\d{3,6}\Z"),
    st.from_regex(r"\A[A-Za-z0-9]{2,22}\Z"),
    st.from_regex(r"\A[\x00-\x1f\u200b\ufeff\u00a0 ]{0,3}[A-Z0-9]{4,8}[\x00-\x1f ]{0,3}\Z"),
    st.from_regex(r"\ALABEL NO\.:\d{1,22}( LOT NO\.:[A-Z0-9]{0,12})?\Z"),
    st.text(max_size=600),
)


def valid_code(code: str) -> bool:
    return bool(CHILD_PATTERN.fullmatch(code)) or any(r.fullmatch(code) for r in PARENT_RES)


@given(plausible)
@settings(max_examples=400)
def test_classify_only_refuses_with_our_type(raw: str) -> None:
    try:
        parsed = classify(raw)
    except CodeRefused as exc:
        assert exc.reason and exc.message
        assert not any(ch in exc.message for ch in "\x00\x1d\r\n\u200b")
        return
    assert valid_code(parsed.code)
    assert parsed.code == parsed.code.upper()
    assert len(raw) <= 512


@given(st.one_of(st.text(max_size=80), st.from_regex(r"\A[ -~]{0,40}\Z")))
def test_normalise_fast_path_agrees_with_the_full_rules(raw: str) -> None:
    assert normalise(raw) == _normalise_each(raw)


@given(st.text(max_size=80))
def test_normalise_is_idempotent(raw: str) -> None:
    once = normalise(raw)
    assert normalise(once) == once


@given(st.lists(plausible, min_size=1, max_size=25))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_service_never_stores_a_bad_code(service, reads: list[str]) -> None:
    for raw in reads:
        result = service.record_scan(raw)
        assert result.outcome in ("accepted", "warning", "refused")
        if result.code is not None and result.kind in ("parent", "child"):
            assert valid_code(result.code)
    codes = service.conn.execute(select(bags.c.code, bags.c.kind)).all()
    bill_ids = service.conn.execute(select(bills.c.bill_id)).scalars().all()
    service.conn.rollback()
    for code, kind in codes:
        assert valid_code(code), code
        is_parent = any(r.fullmatch(code) for r in PARENT_RES)
        assert is_parent == (kind == "parent")
    assert all(BILL_ID_PATTERN.fullmatch(b) for b in bill_ids)
