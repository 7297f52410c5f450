"""A test case's parameters as one instance sees them: what the run set,
over the case's defaults, read as the type the plan asks for.

Pure Python: imported and tested natively.
"""

import json

from . import units


class ParamError(Exception):
    """A parameter that is missing or does not read as the type asked for."""


class Params:
    """The values the run set (``set``), falling back to the defaults of the
    case's declared parameters."""

    def __init__(self, set, declared=()):
        self._set = dict(set)
        self._defaults = {p.name: p.default for p in declared if p.default is not None}

    def get(self, name):
        """The value as text, or None when neither the run nor a default sets it."""
        return self._set.get(name, self._defaults.get(name))

    def is_set(self, name):
        """Whether the run itself set the parameter."""
        return name in self._set

    def items(self):
        """Every value the run set or a default gives, sorted by name."""
        merged = dict(self._defaults)
        merged.update(self._set)
        return sorted(merged.items())

    def _read(self, name, type, parse):
        value = self.get(name)
        if value is None:
            raise ParamError(f"parameter `{name}` is required: the run does not set it and it has no default")
        try:
            return parse(value)
        except (ValueError, json.JSONDecodeError) as e:
            raise ParamError(f"parameter `{name}` = {value!r} is not a valid {type}: {e}") from None

    def string(self, name):
        return self._read(name, "string", str)

    def int(self, name):
        return self._read(name, "int", int)

    def count(self, name):
        """An int that counts something: 0 or more, or a ParamError naming it."""
        n = self.int(name)
        if n < 0:
            raise ParamError(
                f"parameter `{name}` = {self.get(name)!r} is not a valid int: it counts something, so it must be 0 or more"
            )
        return n

    def float(self, name):
        return self._read(name, "float", float)

    def bool(self, name):
        return self._read(name, "bool", units.parse_bool)

    def duration(self, name):
        """Seconds, as a float (what ``time.sleep`` takes)."""
        return self.duration_ns(name) / 1e9

    def duration_ns(self, name):
        """Nanoseconds, exactly."""
        return self._read(name, "duration", units.parse_duration_ns)

    def size(self, name):
        """Bytes."""
        return self._read(name, "size", units.parse_size)

    def json(self, name):
        return self._read(name, "json", json.loads)
