"""What an instance sees of its run: who it is, its parameters, and the
host's services — the sync service, metrics, and the network's controls.

Every function here calls the host through ``wit_world`` (the bindings
``componentize-py`` generates from ``tg:plan``), imported when first used so
that the pure modules stay importable natively.
"""

import json as _json

from .params import Params


class SyncError(Exception):
    """A sync operation the service refused; the message says why."""


def _sync_call(what, f, *args):
    from componentize_py_types import Err

    try:
        return f(*args)
    except Err as e:
        raise SyncError(f"{what}: {_describe(e.value)}") from None


def _describe(error):
    value = getattr(error, "value", None)
    name = type(error).__name__.split("_", 1)[-1]
    if name == "PayloadTooLarge":
        return f"payload too large (at most {value} bytes)"
    if name == "Closed":
        return "the sync service is closed"
    return str(value) if value is not None else name


class Subscription:
    """A topic's messages, from the first, in publish order. Iterate it, or
    call ``next()``; ``try_next()`` does not wait."""

    def __init__(self, topic, handle):
        self.topic = topic
        self._handle = handle

    def next(self):
        """Waits for the next message and returns its bytes."""
        return _sync_call(f"reading topic {self.topic!r}", self._handle.next)

    def next_json(self):
        """Waits for the next message and decodes it as JSON."""
        return _json.loads(self.next())

    def try_next(self):
        """The next message if one was published, else None."""
        return _sync_call(f"reading topic {self.topic!r}", self._handle.try_next)

    def __iter__(self):
        return self

    def __next__(self):
        return self.next()


class SyncClient:
    """The sync service: states with counters, barriers on them, topics.
    Each call blocks this instance (in virtual time) until it is answered."""

    def signal_entry(self, state):
        """Increments ``state``'s counter; returns its new value (1-based)."""
        from wit_world.imports import sync

        return _sync_call(f"signal_entry({state!r})", sync.signal_entry, state)

    def barrier(self, state, target):
        """Waits until ``state``'s counter reaches ``target``."""
        from wit_world.imports import sync

        _sync_call(f"barrier({state!r}, {target})", sync.barrier, state, target)

    def signal_and_wait(self, state, target):
        """``signal_entry`` then ``barrier``; returns this instance's sequence number."""
        from wit_world.imports import sync

        return _sync_call(f"signal_and_wait({state!r}, {target})", sync.signal_and_wait, state, target)

    def publish(self, topic, payload):
        """Appends ``payload`` (bytes) to ``topic``; returns its sequence number (1-based)."""
        from wit_world.imports import sync

        return _sync_call(f"publish({topic!r})", sync.publish, topic, bytes(payload))

    def publish_json(self, topic, value):
        """Publishes ``value`` encoded as JSON, as Testground's SDKs do."""
        return self.publish(topic, _json.dumps(value, separators=(",", ":")).encode())

    def subscribe(self, topic):
        """A reader over ``topic``'s messages, from the first."""
        from wit_world.imports import sync

        return Subscription(topic, _sync_call(f"subscribe({topic!r})", sync.subscribe, topic))


class Recorder:
    """Records metrics of one category (results or diagnostics), stamped
    with virtual time. ``unit`` and ``tags`` are optional on every call."""

    def __init__(self, category):
        self._category = category

    def _record(self, kind, name, value, unit, tags):
        from wit_world.imports import metrics

        metric = metrics.Metric(
            name=name,
            kind=getattr(metrics.MetricKind, kind),
            category=getattr(metrics.Category, self._category),
            unit=unit,
            tags=[(str(k), str(v)) for k, v in sorted((tags or {}).items())],
        )
        metrics.record(metric, float(value))

    def point(self, name, value, unit=None, tags=None):
        """One observation."""
        self._record("POINT", name, value, unit, tags)

    def counter(self, name, delta, unit=None, tags=None):
        """Adds ``delta`` to a per-instance total."""
        self._record("COUNTER", name, delta, unit, tags)

    def gauge(self, name, value, unit=None, tags=None):
        """The current level; the last value counts."""
        self._record("GAUGE", name, value, unit, tags)

    def histogram(self, name, value, unit=None, tags=None):
        """One sample of a distribution."""
        self._record("HISTOGRAM", name, value, unit, tags)

    def timer(self, name, seconds, unit=None, tags=None):
        """A duration, in seconds (unit ``s`` unless given)."""
        self._record("TIMER", name, seconds, unit, tags)


class Network:
    """The instance's place on the data network, and its link shaping."""

    def data_address(self):
        """This instance's IPv4 address on the data network, as text."""
        from wit_world.imports import network

        return network.data_address()

    def wait_network_initialized(self):
        """Returns once every instance's network is up (Testground's barrier of that name)."""
        from wit_world.imports import network

        network.wait_network_initialized()

    def configure(self, latency="0s", jitter="0s", bandwidth=0, loss=0.0, callback_state=None):
        """Shapes the traffic this instance sends (egress): one-way latency
        and jitter as durations, bandwidth in bits per second (0: unlimited),
        loss as a probability. With ``callback_state``, signals that state
        once the shape is in force, as Testground's ``callback_state`` does."""
        from componentize_py_types import Err
        from wit_world.imports import network

        from .units import parse_duration_ns

        shape = network.LinkShape(
            latency_ns=parse_duration_ns(latency),
            jitter_ns=parse_duration_ns(jitter),
            bandwidth_bps=int(bandwidth),
            loss=float(loss),
            loss_correlation=0.0,
            duplicate=0.0,
            duplicate_correlation=0.0,
            corrupt=0.0,
            corrupt_correlation=0.0,
            reorder=0.0,
            reorder_correlation=0.0,
        )
        config = network.Config(
            default=shape, rules=[], routing=network.RoutingPolicy.ALLOW_ALL, callback_state=callback_state
        )
        try:
            network.configure(config)
        except Err as e:
            raise ValueError(f"network configuration refused: {_describe(e.value)}") from None


class RunEnv:
    """Who this instance is, in which run, with which parameters; and the
    host's services. A test case's function receives one."""

    def __init__(self, case):
        from wit_world.imports import runenv

        self.test_plan = runenv.test_plan()
        self.test_case = runenv.test_case()
        self.test_run = runenv.test_run()
        self.seed = runenv.seed()
        self.test_instance_count = runenv.test_instance_count()
        self.global_seq = runenv.global_seq()
        self.group_id = runenv.group_id()
        self.group_seq = runenv.group_seq()
        self.group_instance_count = runenv.group_instance_count()
        self.params = Params(runenv.params(), case.params)
        self.sync = SyncClient()
        self.network = Network()
        self._results = Recorder("RESULT")
        self._diagnostics = Recorder("DIAGNOSTIC")

    def r(self):
        """Records result metrics (Testground's ``R()``)."""
        return self._results

    def d(self):
        """Records diagnostic metrics (Testground's ``D()``)."""
        return self._diagnostics

    def record_message(self, message):
        """A line in the instance's ``messages.log``, stamped with virtual time."""
        from wit_world.imports import runenv

        runenv.record_message(str(message))
