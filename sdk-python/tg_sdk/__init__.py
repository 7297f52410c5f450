"""``tg_sdk`` for Python: the API a tg-wasm test plan written in Python uses.

A plan is a module that declares a ``Manifest`` of ``TestCase`` objects,
each with a function taking the ``RunEnv``, and ends with
``WitWorld = export_plan(manifest)``. ``tg-wasm build`` turns the directory
into a WASI 0.2 component with ``componentize-py``::

    from tg_sdk import Manifest, TestCase, Param, export_plan

    def barrier(env):
        rounds = env.params.int("rounds")
        for i in range(rounds):
            env.sync.signal_and_wait(f"round-{i}", env.test_instance_count)
        env.r().counter("rounds", rounds)

    manifest = Manifest("demo").case(
        TestCase("barrier", barrier).describe("rounds of barriers").param(Param.int("rounds", 10))
    )
    WitWorld = export_plan(manifest)

``units``, ``params`` and ``manifest`` are pure Python (tested natively);
``runenv`` and ``plan`` call the host.
"""

from .manifest import Manifest, Param, TestCase
from .params import ParamError, Params
from .plan import Failure, export_plan
from .runenv import RunEnv, SyncError

__all__ = [
    "Failure",
    "Manifest",
    "Param",
    "ParamError",
    "Params",
    "RunEnv",
    "SyncError",
    "TestCase",
    "export_plan",
]
