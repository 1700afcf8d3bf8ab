"""A bill's figures from its parents' facts (docs/rules.md §4.3): one function for the station's
service, its reports and the centre's bill counters. No SQL, no Qt: each side reads the facts
its own way and hands them here.

    figures = bill_figures(target, [BillParent(child_count=30, kg_per_child=1.0,
                                               nominal_kg=30.0, capacity=30), ...])
    figures.linked, figures.children, figures.actual_kg, figures.expected_kg
    figures.percent, figures.parents_missing, figures.shortfall_kg, figures.shortfall
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from station.vocabulary import Shortfall, shortfall


class BillParent(NamedTuple):
    """What a bill needs to know of one parent on it.

    A line whose parent bag is not known here as a parent (added provisionally, or a code held
    as another kind of bag) is `BillParent()`: it counts as linked, with no children or weight.
    `kg_per_child` and `nominal_kg` are the parent's bag type's, None when the type is not
    known here (then the parent adds no kg, actual or expected). A tuple, so that rows read
    as (child_count, kg_per_child, nominal_kg, capacity) are one already (`BillParent._make`)."""

    child_count: int = 0
    kg_per_child: float | None = None
    nominal_kg: float | None = None
    capacity: int = 0


class Derived:
    """What follows from the four sums and the target; shared by every row that carries them
    (`BillFigures`, `station.service.BillProgress`, `station.reports.BillRow`)."""

    target: int
    linked: int
    actual_kg: float
    expected_kg: float

    @property
    def percent(self) -> float:
        return self.linked * 100.0 / self.target if self.target else 0.0

    @property
    def parents_missing(self) -> int:
        return max(self.target - self.linked, 0)

    @property
    def shortfall_kg(self) -> float:
        return max(self.expected_kg - self.actual_kg, 0.0)

    @property
    def shortfall(self) -> Shortfall:
        return shortfall(self.linked, self.target, self.expected_kg, self.actual_kg)


@dataclass(frozen=True)
class BillFigures(Derived):
    target: int
    linked: int  # parents on the bill (its lines)
    children: int  # the sum of their children
    actual_kg: float  # the sum of children x kg per child of their bag types
    expected_kg: float  # the sum of the nominal kg of their bag types


def bill_figures(target: int, parents: Iterable[BillParent]) -> BillFigures:
    """The figures of a bill of `target` parent bags holding `parents` (one per bill line)."""
    linked = children = 0
    actual = expected = 0.0
    for count, kg_per_child, nominal_kg, _capacity in parents:
        linked += 1
        children += count
        if kg_per_child is not None:
            actual += count * kg_per_child
        if nominal_kg is not None:
            expected += nominal_kg
    return BillFigures(target, linked, children, actual, expected)


__all__ = ["BillFigures", "BillParent", "Derived", "bill_figures"]
