"""`@record`: a class of named fields, as `typing.NamedTuple` makes one, without `typing`.

Importing `typing` costs about 5 ms of every start-up, a tenth of `cnnctl summarize`'s
whole run; the analysis path needs only the tuples themselves. A record is written like a
NamedTuple, its fields annotated (with defaults, then methods and properties):

```python
@record
class Loc:
    file: str
    line: int = 0
```

and is a `collections.namedtuple` underneath: a tuple, compared by value, with `_replace`.
"""

from __future__ import annotations

from collections import namedtuple

TYPE_CHECKING = False  # typing's own name for it, without importing typing
if TYPE_CHECKING:
    from typing import TypeVar

    T = TypeVar("T")


def record(cls: type[T]) -> type[T]:
    names = list(cls.__dict__.get("__annotations__", {}))
    defaults = [cls.__dict__[n] for n in names if n in cls.__dict__]
    if any(n in cls.__dict__ for n in names[: len(names) - len(defaults)]):
        raise TypeError(f"{cls.__name__}: a field without a default after one with")  # as NamedTuple refuses
    base = namedtuple(cls.__name__, names, defaults=defaults)  # noqa: PYI024 - the point of this module
    body = {k: v for k, v in cls.__dict__.items() if k not in names and k not in ("__dict__", "__weakref__")}
    made = type(cls.__name__, (base,), {**body, "__slots__": ()})
    made.__module__ = cls.__module__
    made.__qualname__ = cls.__qualname__
    return made  # type: ignore[return-value]
