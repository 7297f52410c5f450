"""Durations and sizes as plans write them: ``250ms``, ``1.5s``, ``2m``,
``1h``; ``512``, ``64KiB``, ``1MB``.

The grammar is the Rust SDK's (crate ``tg-units``), and both are checked
against one table of known answers (``units/vectors.json`` in the
repository), so a parameter means the same in a Python plan and a Rust one.
Pure Python: imported and tested natively.
"""

_DURATION_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3_600 * 1_000_000_000,
}

_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
    "t": 10**12, "tb": 10**12, "p": 10**15, "pb": 10**15, "e": 10**18, "eb": 10**18,
    "ki": 1 << 10, "kib": 1 << 10, "mi": 1 << 20, "mib": 1 << 20, "gi": 1 << 30, "gib": 1 << 30,
    "ti": 1 << 40, "tib": 1 << 40, "pi": 1 << 50, "pib": 1 << 50, "ei": 1 << 60, "eib": 1 << 60,
}

_U64_MAX = (1 << 64) - 1
# Virtual time counts u64 nanoseconds (about 584 years): a longer duration
# could not be slept or waited for.
_MAX_DURATION_NS = _U64_MAX


class ParseError(ValueError):
    """A duration, size or boolean that does not parse; the message says why."""


def _leading_decimal(s):
    """Splits ``s`` into (integer digits, fraction digits, rest), or None."""
    i = 0
    while i < len(s) and s[i].isascii() and s[i].isdigit():
        i += 1
    integer, rest = s[:i], s[i:]
    fraction = ""
    if rest.startswith("."):
        j = 1
        while j < len(rest) and rest[j].isascii() and rest[j].isdigit():
            j += 1
        fraction, rest = rest[1:j], rest[j:]
    if not integer and not fraction:
        return None
    return integer, fraction, rest


def _scale(integer, fraction, unit):
    value = (int(integer) if integer else 0) * unit
    if fraction:
        # Digits past the 19th cannot matter at nanosecond or byte precision.
        fraction = fraction[:19]
        value += int(fraction) * unit // 10 ** len(fraction)
    return value


def parse_duration_ns(text):
    """Nanoseconds in ``text``: a sum of numbers with units (``1m30s``)."""
    def invalid(why):
        return ParseError(f"invalid duration {text!r}: {why}")

    s = text.strip()
    if s.startswith("+"):
        s = s[1:]
    elif s.startswith("-"):
        try:
            zero = parse_duration_ns(s[1:]) == 0
        except ParseError:
            zero = False
        if zero:
            return 0
        raise invalid("negative durations are not supported")
    if s == "0":
        return 0
    if not s:
        raise invalid("empty")
    nanos = 0
    while s:
        parts = _leading_decimal(s)
        if parts is None:
            raise invalid("expected a number")
        integer, fraction, rest = parts
        end = 0
        while end < len(rest) and not (rest[end].isascii() and rest[end].isdigit()) and rest[end] != ".":
            end += 1
        unit, s = rest[:end], rest[end:]
        if unit == "":
            raise invalid("missing unit (one of ns, us, ms, s, m, h)")
        if unit not in _DURATION_UNITS:
            raise invalid(f"unknown unit {unit!r} (expected ns, us, ms, s, m, h)")
        nanos += _scale(integer, fraction, _DURATION_UNITS[unit])
    if nanos > _MAX_DURATION_NS:
        raise invalid("longer than tg-wasm counts time (u64 nanoseconds, about 584 years)")
    return nanos


def parse_size(text):
    """Bytes in ``text``: a number with an optional decimal or binary unit."""
    def invalid(why):
        return ParseError(f"invalid size {text!r}: {why}")

    parts = _leading_decimal(text.strip())
    if parts is None:
        raise invalid("expected a number")
    integer, fraction, rest = parts
    unit = "".join(c.lower() if c.isascii() else c for c in rest.lstrip())
    if unit not in _SIZE_UNITS:
        raise invalid(f"unknown unit {unit!r}")
    size = _scale(integer, fraction, _SIZE_UNITS[unit])
    if size > _U64_MAX:
        raise invalid("larger than 2^64-1 bytes")
    return size


def parse_bool(text):
    """``true``/``false`` and the spellings Go's ``strconv.ParseBool`` takes."""
    t = text.strip()
    if t in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if t in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ParseError(f"invalid boolean {text!r}: expected true or false")
