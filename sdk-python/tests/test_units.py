"""The Python SDK's pure parts, natively: units against the known answers
the Rust SDK is tested with too, parameters and manifests."""

import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from tg_sdk import Manifest, Param, ParamError, Params, TestCase  # noqa: E402
from tg_sdk import units  # noqa: E402

with open(os.path.join(HERE, "..", "..", "units", "vectors.json"), encoding="utf-8") as f:
    VECTORS = json.load(f)


def answer(parse, text):
    try:
        return parse(text)
    except units.ParseError:
        return None


class KnownAnswers(unittest.TestCase):
    def test_durations(self):
        for text, expected in VECTORS["durations_ns"]:
            with self.subTest(text=text):
                self.assertEqual(answer(units.parse_duration_ns, text), expected)

    def test_sizes(self):
        for text, expected in VECTORS["sizes"]:
            with self.subTest(text=text):
                self.assertEqual(answer(units.parse_size, text), expected)

    def test_bools(self):
        for text, expected in VECTORS["bools"]:
            with self.subTest(text=text):
                self.assertEqual(answer(units.parse_bool, text), expected)


class Parameters(unittest.TestCase):
    def test_the_run_overrides_defaults_and_types_are_checked(self):
        declared = [Param.int("rounds", 10), Param.duration("wait", "50ms"), Param.string("name")]
        params = Params([("rounds", "3")], declared)
        self.assertEqual(params.int("rounds"), 3)
        self.assertEqual(params.duration_ns("wait"), 50_000_000)
        self.assertEqual(params.duration("wait"), 0.05)
        self.assertTrue(params.is_set("rounds") and not params.is_set("wait"))
        with self.assertRaisesRegex(ParamError, "`name` is required"):
            params.string("name")
        with self.assertRaisesRegex(ParamError, "is not a valid int"):
            Params([("rounds", "many")], declared).int("rounds")
        self.assertEqual(params.count("rounds"), 3)
        with self.assertRaisesRegex(ParamError, "it counts something, so it must be 0 or more"):
            Params([("rounds", "-1")], declared).count("rounds")

    def test_a_default_of_the_wrong_type_is_refused_when_declared(self):
        with self.assertRaises(units.ParseError):
            Param.duration("wait", "soon")
        with self.assertRaisesRegex(ValueError, "is not one of"):
            Param("x", "integer")


class Manifests(unittest.TestCase):
    def test_duplicate_cases_and_params_are_refused(self):
        m = Manifest("p").case(TestCase("a", print))
        with self.assertRaisesRegex(ValueError, "declared twice"):
            m.case(TestCase("a", print))
        with self.assertRaisesRegex(ValueError, "declared twice"):
            TestCase("b", print).param(Param.int("n", 1)).param(Param.int("n", 2))
        self.assertIs(m.find("a").run, print)
        self.assertIsNone(m.find("z"))


if __name__ == "__main__":
    unittest.main()
