"""python-example: a Testground-style plan in Python — barriers, a topic
every instance reads whole, metrics, and a UDP ping over Python's own
``socket`` module on the simulated network — built by ``tg-wasm build`` with
componentize-py and run like any other plan."""

import socket
import time

from tg_sdk import Manifest, Param, TestCase, export_plan


def barriers(env):
    """Every instance passes ``rounds`` barriers, all instances on each, and
    measures on virtual time how long each took."""
    rounds = env.params.count("rounds")
    everyone = env.test_instance_count
    for i in range(rounds):
        start = time.monotonic()
        env.sync.signal_and_wait(f"round-{i}", everyone)
        env.r().timer("round", time.monotonic() - start)
    env.r().counter("rounds-passed", rounds)


def barrier_storm(env):
    """``plans/example``'s case of the same name, barrier for barrier: a
    composition can run both plans' instances on the same barriers."""
    barriers = env.params.count("barriers")
    for i in range(barriers):
        env.sync.signal_and_wait(f"storm-{i}", env.test_instance_count)
    env.r().counter("barriers-passed", barriers)


def topic(env):
    """Every instance publishes its sequence number and reads everyone's:
    all must see the same order."""
    env.sync.publish_json("peers", {"seq": env.global_seq, "address": env.network.data_address()})
    seen = [message["seq"] for _, message in zip(range(env.test_instance_count), _json(env.sync.subscribe("peers")))]
    assert sorted(seen) == list(range(env.test_instance_count)), f"saw {seen}"
    env.sync.publish_json("orders", seen)
    orders = env.sync.subscribe("orders")
    for _ in range(env.test_instance_count):
        other = orders.next_json()
        assert other == seen, f"another instance saw {other}, this one {seen}"
    env.r().point("peers-seen", len(seen))


def sleep(env):
    """Sleeps ``duration``; the virtual clock advances by exactly that."""
    duration = env.params.duration_ns("duration")
    start = time.monotonic_ns()
    time.sleep(duration / 1e9)
    slept = time.monotonic_ns() - start
    assert slept == duration, f"slept {slept} ns, asked {duration} ns"


PING_PORT = 7000


def udp_ping(env):
    """Instance 0 echoes datagrams; every other instance sends ``pings`` to
    it through a link of ``latency`` each way and checks each round trip
    took exactly twice that on the virtual clock."""
    latency = env.params.duration_ns("latency")
    pings = env.params.count("pings")
    env.network.configure(latency=f"{latency}ns", callback_state="shaped")
    env.sync.barrier("shaped", env.test_instance_count)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", PING_PORT))
    if env.global_seq == 0:
        env.sync.publish_json("echo", {"address": env.network.data_address()})
        env.sync.signal_entry("listening")
        for _ in range((env.test_instance_count - 1) * pings):
            data, peer = sock.recvfrom(1500)
            sock.sendto(data, peer)
        return
    server = (env.sync.subscribe("echo").next_json()["address"], PING_PORT)
    env.sync.barrier("listening", 1)
    for i in range(pings):
        start = time.monotonic_ns()
        sock.sendto(f"ping {env.global_seq} {i}".encode(), server)
        data, _ = sock.recvfrom(1500)
        rtt = time.monotonic_ns() - start
        assert data == f"ping {env.global_seq} {i}".encode(), f"echoed {data!r}"
        assert rtt == 2 * latency, f"round trip {rtt} ns through links of {latency} ns"
        env.r().timer("rtt", rtt / 1e9)


def _json(subscription):
    while True:
        yield subscription.next_json()


manifest = (
    Manifest("python-example")
    .case(
        TestCase("barriers", barriers)
        .describe("every instance passes `rounds` barriers, all instances on each")
        .param(Param.int("rounds", 10).describe("barriers to pass"))
    )
    .case(
        TestCase("barrier-storm", barrier_storm)
        .describe("plans/example's barrier-storm in Python: every instance on every barrier")
        .param(Param.int("barriers", 100).describe("barriers to pass"))
    )
    .case(TestCase("topic", topic).describe("every instance publishes its seq and checks all saw one order"))
    .case(
        TestCase("udp-ping", udp_ping)
        .describe("instance 0 echoes UDP; the others ping it and check each round trip on the virtual clock")
        .instances(2, 1000)
        .param(Param.duration("latency", "25ms").describe("one-way latency of every link"))
        .param(Param.int("pings", 3).describe("pings per instance"))
    )
    .case(
        TestCase("sleep", sleep)
        .describe("sleeps, and checks the virtual clock advanced by exactly that")
        .param(Param.duration("duration", "1h").describe("how long to sleep"))
    )
)

WitWorld = export_plan(manifest)
