"""`cnnctl.records.record`: NamedTuples without importing typing."""

import pytest

from cnnctl.records import record


@record
class Point:
    """A point."""

    x: int
    y: int = 0
    tags: tuple = ()

    @property
    def norm1(self) -> int:
        return abs(self.x) + abs(self.y)


def test_a_record_is_a_named_tuple_with_its_methods():
    p = Point(3, -4)
    assert p == (3, -4, ()) and p.x == 3 and p.norm1 == 7
    assert p._replace(y=1) == Point(3, 1) and Point._fields == ("x", "y", "tags")
    assert Point.__doc__ == "A point." and Point.__name__ == "Point"
    with pytest.raises(AttributeError):
        p.z = 1  # no instance dict: as small as a tuple


def test_a_field_without_a_default_after_one_with_is_refused():
    with pytest.raises(TypeError, match="a field without a default after one with"):

        @record
        class Bad:
            a: int = 0
            b: int
