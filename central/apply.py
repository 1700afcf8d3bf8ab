"""Applying one batch of station events to the central tables, in the caller's transaction.

Three steps, each in its own module (this one gathers them for central.service, bench/ and
tests):

- loading (`central.apply_load`): the facts of every bag and bill the batch names are read
  once, under row locks taken in one global order (bags by qr_id, then bills by bill_id) so
  concurrent stations cannot deadlock on them, together with who linked each named child (for
  refusal messages and the undo rule), into a `BatchState`;
- deciding (`central.apply_decide`): each event is decided in station-sequence order by the
  same station.rules functions the station uses, and what an accepted one changes comes from
  station.effects (as on the station), applied to that in-memory state with no database access;
- writing (`central.apply_write`): the net changes (`take_delta`) are written set-based at the
  end (`write_delta`: COPY, execute_values), then the bills they touch are recounted.

First applied wins: the order is the centre's, never the device clocks'.
"""

from __future__ import annotations

from central.apply_decide import (
    APPLIED,
    DUPLICATE,
    REJECTED,
    CentreResult,
    RetryBatch,
    decide_batch,
    decide_event,
)
from central.apply_load import (
    BatchState,
    bag_type_of,
    bag_types_from_rows,
    hhmm,
    load_bag_types,
    load_state,
    parse_time,
    take_new_ids,
)
from central.apply_write import (
    EVENT_COLUMNS,
    Delta,
    copy_rows,
    copy_text,
    dumps,
    event_line,
    event_prefix,
    event_row,
    recount_bills,
    take_delta,
    write_delta,
)

__all__ = [
    "APPLIED", "DUPLICATE", "EVENT_COLUMNS", "REJECTED", "BatchState", "CentreResult", "Delta",
    "RetryBatch", "bag_type_of", "bag_types_from_rows", "copy_rows", "copy_text",
    "decide_batch", "decide_event", "dumps", "event_line", "event_prefix", "event_row", "hhmm", "load_bag_types",
    "load_state", "parse_time", "recount_bills", "take_delta", "take_new_ids", "write_delta",
]
