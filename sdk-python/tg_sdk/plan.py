"""Exporting a plan: the class ``componentize-py`` instantiates for the
``tg:plan`` world, built from a ``Manifest``.

What a case does decides its outcome: returning succeeds; raising
``Failure`` (or failing an ``assert``, or reading a parameter that does not
hold what it must: ``ParamError``) fails the instance with that message, as a
Rust plan's error does; any other exception crashes it, with the exception's
type, message and place as the reason and its traceback on the instance's
stderr.
"""

import sys
import traceback

from .params import ParamError


class Failure(Exception):
    """Fails the instance with this message (Testground's ``RecordFailure``)."""


def _where(error):
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f" at {last.filename}:{last.lineno}"


def export_plan(manifest):
    """The ``WitWorld`` class of a plan with ``manifest``. A plan's module
    ends with ``WitWorld = export_plan(manifest)``."""
    from componentize_py_types import Err
    from wit_world import WitWorld as World
    from wit_world.imports import runenv, types

    from .runenv import RunEnv

    kinds = {name: getattr(types.ParamType, name.upper()) for name in
             ("string", "int", "float", "bool", "duration", "size", "json")}

    class Plan(World):
        def describe(self):
            return types.Manifest(
                name=manifest.name,
                test_cases=[
                    types.TestCaseSpec(
                        name=c.name,
                        description=c.description,
                        instances=types.InstanceBounds(min=c.min_instances, max=c.max_instances),
                        params=[
                            types.ParamSpec(
                                name=p.name, type=kinds[p.type], default=p.default,
                                description=p.description, unit=p.unit,
                            )
                            for p in c.params
                        ],
                    )
                    for c in manifest.test_cases
                ],
            )

        def run(self, test_case):
            case = manifest.find(test_case)
            if case is None:
                raise Err(f"the plan has no test case {test_case!r}")
            env = RunEnv(case)
            try:
                case.run(env)
            except (Failure, AssertionError, ParamError) as e:
                raise Err(str(e) or type(e).__name__ + _where(e)) from None
            except Exception as e:
                reason = f"{type(e).__name__}: {e}{_where(e)}"
                traceback.print_exc(file=sys.stderr)
                runenv.record_crash(reason)
                raise

    return Plan
