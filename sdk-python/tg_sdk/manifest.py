"""What a plan declares: its test cases, the instances each supports, and
the parameters each takes, with their types and defaults.

Pure Python: imported and tested natively. The host reads the manifest
through ``describe`` (see ``tg_sdk.plan``) and checks a run's request
against it before anything starts.
"""

from . import units

PARAM_TYPES = ("string", "int", "float", "bool", "duration", "size", "json")


class Param:
    """One parameter of a test case. Build it with the constructor of its
    type: ``Param.int("rounds", 10)``, ``Param.duration("latency", "50ms")``;
    a default of ``None`` makes it required."""

    def __init__(self, name, type, default=None, description="", unit=None):
        if type not in PARAM_TYPES:
            raise ValueError(f"parameter {name!r}: type {type!r} is not one of {', '.join(PARAM_TYPES)}")
        self.name = name
        self.type = type
        self.default = None if default is None else _text(type, default)
        self.description = description
        self.unit = unit

    def describe(self, description):
        """Says what the parameter means (shown by ``tg-wasm describe``)."""
        self.description = description
        return self

    def with_unit(self, unit):
        """The unit of its values, for the report (``ms``, ``peers``)."""
        self.unit = unit
        return self

    @classmethod
    def string(cls, name, default=None):
        return cls(name, "string", default)

    @classmethod
    def int(cls, name, default=None):
        return cls(name, "int", default)

    @classmethod
    def float(cls, name, default=None):
        return cls(name, "float", default)

    @classmethod
    def bool(cls, name, default=None):
        return cls(name, "bool", default)

    @classmethod
    def duration(cls, name, default=None):
        return cls(name, "duration", default)

    @classmethod
    def size(cls, name, default=None):
        return cls(name, "size", default)

    @classmethod
    def json(cls, name, default=None):
        return cls(name, "json", default)


def _text(type, value):
    """A default as the host passes values: text, checked against its type."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = value
    elif type == "json":
        import json

        text = json.dumps(value)
    else:
        text = str(value)
    if type == "duration":
        units.parse_duration_ns(text)
    elif type == "size":
        units.parse_size(text)
    elif type == "bool":
        units.parse_bool(text)
    elif type == "int":
        int(text)
    elif type == "float":
        float(text)
    return text


class TestCase:
    """One test case: a name, the function that runs it (given the
    ``RunEnv``), and what it accepts."""

    def __init__(self, name, run, description="", min_instances=1, max_instances=100_000):
        self.name = name
        self.run = run
        self.description = description
        self.min_instances = min_instances
        self.max_instances = max_instances
        self.params = []

    def describe(self, description):
        """Says what the case does (shown by ``tg-wasm describe``)."""
        self.description = description
        return self

    def instances(self, minimum, maximum):
        """The instance counts the case supports, inclusive."""
        if not 1 <= minimum <= maximum:
            raise ValueError(f"test case {self.name!r}: instances must satisfy 1 <= min <= max")
        self.min_instances, self.max_instances = minimum, maximum
        return self

    def param(self, param):
        """Adds a parameter."""
        if any(p.name == param.name for p in self.params):
            raise ValueError(f"test case {self.name!r}: parameter {param.name!r} declared twice")
        self.params.append(param)
        return self


class Manifest:
    """The plan's name and its test cases, in the order ``describe`` lists them."""

    def __init__(self, name):
        self.name = name
        self.test_cases = []

    def case(self, case):
        """Adds a test case."""
        if any(c.name == case.name for c in self.test_cases):
            raise ValueError(f"test case {case.name!r} declared twice")
        self.test_cases.append(case)
        return self

    def find(self, name):
        """The test case called ``name``, or None."""
        return next((c for c in self.test_cases if c.name == name), None)
