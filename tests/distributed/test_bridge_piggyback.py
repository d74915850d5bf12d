"""Piggyback on bridges into the driver: a push's reply carries what the group has ready for the driver, so one
edge's batches come by two paths (push replies and the long poll) in any order. No Ray here: the outbox, the
inbox and the driver's transports run against a fake peer whose calls the test answers itself."""

from __future__ import annotations

import concurrent.futures
import queue
import threading
import time

import pytest
from ray.exceptions import GetTimeoutError
from ray_support import AWKWARD_PAYLOADS

from graphflow import Graph, GraphError
from graphflow.config import load_graph
from graphflow.distributed import DRIVER, actor, partition
from graphflow.distributed.actor import PartRunner
from graphflow.distributed.bridge import DONE_US, PACKET, Inbox, Outbox
from graphflow.distributed.partition import Edge, downstream_streams
from graphflow.distributed.wire import pack, unpack
from graphflow.validate import validate

HOP = {"input_streams": ["x"], "output_streams": ["y"], "groups": {"far": {}},
       "nodes": [{"name": "echo", "calculator": "PassThrough", "inputs": {"IN": "x"}, "outputs": {"OUT": "y"},
                  "group": "far"}]}


def edge(capacity: int = 100) -> Edge:
    return Edge("y", "far", DRIVER, "block", capacity)


def receiving_graph() -> tuple[Graph, list[int]]:
    """A node-less graph with input ``y`` observed: what the driver's part is for the HOP graph."""
    graph = Graph.from_yaml({"input_streams": ["y"], "output_streams": ["y"], "nodes": []})
    seen: list[int] = []
    graph.observe("y", lambda p: seen.append(p.payload))
    graph.start()
    return graph, seen


def never() -> bool:
    return False


def items(seqs: list[int]) -> list[tuple]:
    """Bridge items with timestamp and payload = seq."""
    return [(s, s, PACKET, s, time.time_ns()) for s in seqs]


def test_batches_of_one_edge_from_two_paths_are_fed_in_seq_order_exactly_once():
    graph, seen = receiving_graph()
    try:
        box = Inbox(edge(), graph, None, reorder=True)
        assert box.deliver("g1", items([3, 4]), never) == 0  # early: waits for 1-2
        assert box.deliver("g1", items([5]), never) == 0
        assert seen == [] and box.waiting_early
        assert box.deliver("g1", items([1, 2]), never) == 5  # lets the early ones go: all credit back
        assert seen == [1, 2, 3, 4, 5] and not box.waiting_early
        assert box.deliver("g1", items([3, 4]), never) == 0  # a second copy is not fed again
        assert seen == [1, 2, 3, 4, 5]
        st = box.stats()
        assert (st["received"], st["seq_gaps"], st["duplicates"], st["reordered"]) == (5, 0, 2, 2)
    finally:
        graph.cancel()


def test_a_real_gap_is_counted_once_nothing_can_still_bring_it_and_order_is_still_checked():
    graph, seen = receiving_graph()
    try:
        box = Inbox(edge(), graph, None, reorder=True)
        assert box.deliver("g1", items([1]), never) == 1
        assert box.deliver("g1", items([4, 5]), never) == 0
        assert box.settle(never) == 4  # 2-3 were lost: their credit comes back with 4-5's
        assert seen == [1, 4, 5] and box.stats()["seq_gaps"] == 2
        assert box.deliver("g1", items([2, 3]), never) == 0  # a late copy of what was counted lost: not fed
        assert seen == [1, 4, 5]

        once = Inbox(edge(), graph, None)  # one path in order (pushes): a skip is a loss at once
        assert once.deliver("g1", [(1, 10, PACKET, 10, 0)], never) == 1
        assert once.deliver("g1", [(3, 11, PACKET, 11, 0)], never) == 2
        assert once.stats()["seq_gaps"] == 1
        with pytest.raises(GraphError, match="reordered"):  # a timestamp going back is still an error
            once.deliver("g1", [(4, 5, PACKET, 5, 0)], never)
    finally:
        graph.cancel()


def test_a_restarted_sender_starts_at_seq_one_even_if_its_first_batch_comes_late():
    graph, seen = receiving_graph()
    try:
        box = Inbox(edge(), graph, None, reorder=True)
        box.deliver("g1", items([1, 2]), never)
        box.deliver("g1", items([4]), never)  # 3 never comes: g1 died
        assert box.deliver("g2", [(2, 20, PACKET, 20, 0)], never) == 0  # g2's first batch overtook its seq 1
        assert seen == [1, 2, 4]  # g1's early batch went when g2 came (its gap counted)
        assert box.deliver("g2", [(1, 19, PACKET, 19, 0)], never) == 2
        assert seen == [1, 2, 4, 19, 20] and box.stats()["seq_gaps"] == 1
    finally:
        graph.cancel()


def test_credits_add_up_when_batches_go_by_both_paths_in_any_order():
    """A producer against a 4-item credit, its items taken alternately by a reply and a long poll and delivered
    in reverse pairs: every credit comes back, the edge never holds more than its credit, nothing is lost."""
    graph, seen = receiving_graph()
    try:
        out, inbox = Outbox(edge(capacity=4)), Inbox(edge(capacity=4), graph, None, reorder=True)
        held: list[list[tuple]] = []
        for ts in range(40):
            assert len(out.items) + out.unacked < 4 or ts == 0
            out.put_packet(ts, ts)
            batch = out.take(0.0, reply=ts % 2 == 0)
            held.append(batch)
            if len(held) == 2:  # the second batch arrives first
                for b in reversed(held):
                    out.ack(inbox.deliver("g1", b, never))
                held.clear()
            assert len(out.items) + out.unacked <= 4
        assert out.unacked == 0 and seen == list(range(40))
        assert out.stats()["piggybacked"] == 20 and out.stats()["batches"] == 40
    finally:
        graph.cancel()


def test_a_long_poll_leaves_claimed_items_to_the_reply():
    box = Outbox(edge())
    got: list[list[tuple]] = []
    poll = threading.Thread(target=lambda: got.append(box.take(5.0)))
    poll.start()
    box.claim(5.0)
    box.put_packet(0, 0)
    time.sleep(0.05)
    assert not got  # the long poll saw nothing it may take
    assert [item[1] for item in box.take(0.0, reply=True)] == [0]
    box.release()
    box.put_packet(1, 1)  # after the claim: the long poll's
    poll.join(5.0)
    assert [[item[1] for item in batch] for batch in got] == [[1]]
    assert box.piggybacked == 1 and box.batches == 2


def test_a_claim_never_holds_items_past_its_bound():
    """A reply that never comes to take them (its push held up) keeps them from the long poll only so long."""
    box = Outbox(edge())
    box.claim(0.05)
    box.put_packet(0, 0)
    start = time.monotonic()
    assert [item[1] for item in box.take(5.0)] == [0]
    assert time.monotonic() - start < 2.0


class FakeMethod:
    """``peer.method.remote(message)``: records the call; the test answers it through the returned future."""

    def __init__(self) -> None:
        self.calls: queue.Queue = queue.Queue()

    def remote(self, message: tuple | bytes) -> FakeRef:
        ref = FakeRef()
        self.calls.put((unpack(message), ref.fut))  # what the peer would read (the call may travel as bytes)
        return ref

    def next(self) -> tuple[tuple, concurrent.futures.Future]:
        return self.calls.get(timeout=5.0)


class FakeRef:
    def __init__(self) -> None:
        self.fut: concurrent.futures.Future = concurrent.futures.Future()

    def future(self) -> concurrent.futures.Future:
        return self.fut


class FakeGroup:
    incarnation = "g1"

    def __init__(self) -> None:
        self.push, self.pull = FakeMethod(), FakeMethod()


@pytest.fixture
def fake_waits(monkeypatch):
    """The driver's Puller thread waits for push replies with ``ray.get`` (one push) or ``ray.wait`` (several);
    here the refs are the fake's futures.
    Its wait is made long, so that a reply handed to the idle thread is surely handled there."""
    def first_ready(refs, timeout):
        done, _ = concurrent.futures.wait([r.fut for r in refs], timeout, concurrent.futures.FIRST_COMPLETED)
        return [r for r in refs if r.fut in done]

    def get_within(ref, timeout):
        try:
            return ref.fut.result(timeout)
        except concurrent.futures.TimeoutError:
            raise GetTimeoutError from None

    monkeypatch.setattr(actor, "first_ready", first_ready)
    monkeypatch.setattr(actor, "get_within", get_within)  # under result_of and reply_within, which run as they are
    monkeypatch.setattr(actor, "AWAIT_REPLY_S", 5.0)
    monkeypatch.setattr(actor, "IDLE_SLICE_S", 5.0)  # so that an idle thread stays idle while the test pushes


def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def driver_against(far: FakeGroup, spec: dict = HOP) -> tuple[PartRunner, list]:
    """The driver's part of ``spec``, started against the fake group, and what reaches its output ``y``."""
    driver = PartRunner(partition(validate(load_graph(spec)))[DRIVER])
    seen: list = []
    driver.graph.observe("y", lambda p: seen.append(p.payload))
    driver.start({}, peers={"far": far})
    return driver, seen


def test_the_driver_feeds_push_replies_and_long_polls_in_order_and_returns_their_credit(fake_waits):
    """The driver's real transports (Pusher, Puller) against a fake group: a reply that overtakes the long poll
    waits for it; the credit of both goes back with the next push or poll; an early batch whose predecessor
    nothing under way can bring settles as a counted gap."""
    far = FakeGroup()
    driver, seen = driver_against(far)
    try:
        (edge_id, ack, ack_for, _), poll1 = far.pull.next()
        assert (edge_id, ack, ack_for) == ("y-><driver>", 0, None)

        puller = driver.pullers["y-><driver>"]
        wait_for(lambda: puller.idle)  # so the push's reply is handed to the edge's thread (ray.wait)
        driver.graph.add_packet("x", 10, 10)
        (edge_id, _, batch, credit, credit_for), push1 = far.push.next()
        assert edge_id == "x->far" and [it[1] for it in batch] == [10] and credit == {"y-><driver>": 0}
        push1.set_result((1, "g1", {"y-><driver>": [(2, 11, PACKET, 11, 0)]}))  # overtook seq 1 (in the poll)
        time.sleep(0.05)
        assert seen == []
        poll1.set_result(("g1", [(1, 10, PACKET, 10, 0)]))
        wait_for(lambda: seen == [10, 11])
        assert puller.awaited == 1  # the waiting thread handled the reply itself

        (_, ack, ack_for, _), poll2 = far.pull.next()  # the poll came back: the next one carries the credit
        assert (ack, ack_for) == (2, "g1")
        driver.graph.add_packet("x", 12, 12)
        (_, _, _, credit, credit_for), push2 = far.push.next()
        push2.set_result((1, "g1", {"y-><driver>": [(3, 12, PACKET, 12, 0)]}))
        wait_for(lambda: seen == [10, 11, 12])
        driver.graph.add_packet("x", 13, 13)
        (_, _, _, credit, credit_for), push3 = far.push.next()
        assert (credit, credit_for) == ({"y-><driver>": 1}, "g1")  # the reply's credit rides the next push

        push3.set_result((1, "g1", {"y-><driver>": [(5, 14, PACKET, 14, 0)]}))  # seq 4 lost: poll2 is under way
        time.sleep(0.05)
        assert seen == [10, 11, 12]
        poll2.set_result(("g1", []))  # the last transfer that could bring seq 4 came empty
        wait_for(lambda: seen == [10, 11, 12, 14])
        stats = driver.stats()["inboxes"]["y-><driver>"]
        assert (stats["seq_gaps"], stats["reordered"], stats["piggybacked_batches"], stats["pulled_batches"]) \
            == (1, 2, 3, 1)

        (_, ack, ack_for, _), poll3 = far.pull.next()
        assert (ack, ack_for) == (2, "g1")  # seq 4 (lost) and 5
        poll3.set_result(("g1", [(6, DONE_US, 1, None, 0)]))  # DONE closes the edge
        (_, ack, ack_for, timeout), _ = far.pull.next()  # the last credit, fire and forget
        assert (ack, ack_for, timeout) == (1, "g1", 0.0)
    finally:
        driver.cancel()


def test_a_push_from_the_driver_replies_with_what_it_sets_off():
    """The group side, called directly: a push into an idle part runs the PassThrough in its own thread and its
    reply carries the output; the credit it brings is counted."""
    far = PartRunner(partition(validate(load_graph(HOP)))["far"])
    far.start({}, peers={})
    try:
        replies = []
        for seq in range(1, 21):
            credit = {"y-><driver>": 1} if seq > 1 else {}
            accepted, incarnation, carried = unpack(far.push(("x->far", "d1", [(seq, seq, PACKET, seq, 0)], credit,
                                                              far.incarnation)))
            replies.append([it[1] for it in carried.get("y-><driver>", [])])
        assert accepted == 1 and incarnation == far.incarnation
        assert sum(replies, []) == list(range(1, 21))
        assert replies[-5:] == [[seq] for seq in range(16, 21)]  # once the engine trusts PassThrough to be light
        out = far.outboxes["y-><driver>"].stats()
        assert out["piggybacked"] == out["batches"] and out["in_transit"] == 1  # the last one's credit is owed
    finally:
        far.cancel()


def test_the_group_side_keeps_payload_types_in_push_replies_and_pulls():
    """Both of the group's replies as Ray sees them (``push``/``pull`` with packed messages): a payload marshal would
    turn into bytes (a numpy scalar, a bytearray) or an int subclass comes back as itself, whichever call carries
    it."""
    far = PartRunner(partition(validate(load_graph(HOP)))["far"])
    far.start({}, peers={})
    try:
        carried = []
        for seq, payload in enumerate(AWKWARD_PAYLOADS, 1):
            message = ("x->far", "d1", [(seq, seq, PACKET, payload, 0)], {"y-><driver>": 1 if seq > 1 else 0},
                       far.incarnation)
            _, _, batches = unpack(far.push(pack(message, (message[2],))))
            carried += [it[3] for it in batches.get("y-><driver>", [])]
        box = far.outboxes["y-><driver>"]
        box.ack(box.unacked)
        for ts, payload in enumerate(AWKWARD_PAYLOADS, 100):  # queued by the group itself: only a pull takes them
            box.put_packet(ts, payload)
        _, pulled = unpack(far.pull(pack(("y-><driver>", 0, far.incarnation, 0.5), ())))
        for got in (carried, [it[3] for it in pulled]):
            assert [(type(p), p) for p in got] == [(type(p), p) for p in AWKWARD_PAYLOADS]
    finally:
        far.cancel()


def test_only_pushes_that_can_reach_the_driver_wait_for_a_reply():
    spec = load_graph({
        "input_streams": ["x", "w"], "output_streams": ["y"], "groups": {"g": {}},
        "nodes": [{"name": "a", "calculator": "PassThrough", "inputs": {"IN": "x"}, "outputs": {"OUT": "m"},
                   "group": "g"},
                  {"name": "b", "calculator": "PassThrough", "inputs": {"IN": "m"}, "outputs": {"OUT": "y"},
                   "group": "g"},
                  {"name": "c", "calculator": "PassThrough", "inputs": {"IN": "w"}, "outputs": {"OUT": "v"},
                   "group": "g"}]})
    part = partition(validate(spec))["g"]
    assert downstream_streams(part.graph, "x") == {"x", "m", "y"}
    assert downstream_streams(part.graph, "w") == {"w", "v"}
    runner = PartRunner(part)
    try:
        assert [b.edge.id for b in runner.replies_for["x->g"]] == ["y-><driver>"]
        assert runner.replies_for["w->g"] == []
    finally:
        runner.graph.cancel()


def test_a_packet_added_with_run_here_runs_its_light_consumer_in_the_caller():
    graph = Graph.from_yaml(HOP | {"groups": {}, "nodes": [{**HOP["nodes"][0], "group": None}]}, caller_runs=False)
    where: list[str] = []
    graph.observe("y", lambda p: where.append(threading.current_thread().name))
    graph.start()
    try:
        for ts in range(12):  # past the engine's probe calls, after which PassThrough counts as light
            graph.add_packet("x", ts, ts)
            assert graph.wait_idle(5.0)
        where.clear()
        assert graph.is_idle()
        graph.add_packet("x", 12, 12, run_here=True)
        assert where == [threading.current_thread().name]  # done before add_packet returned, in this thread
        graph.add_packet("x", 13, 13)
        assert graph.wait_idle(5.0) and where[-1] != threading.current_thread().name
    finally:
        graph.wait_until_done(timeout=10)


def test_a_push_reply_is_handled_while_the_driver_edge_thread_is_busy(fake_waits):
    """A push's reply returns credit and sends the next batch: when the thread of the edge back is busy (here: an
    observer it runs blocks), the reply is not handed to it (it would wait behind the observer) but handled in the
    transport's callback, and the next push goes out at once."""
    far = FakeGroup()
    driver = PartRunner(partition(validate(load_graph(HOP)))[DRIVER])
    release = threading.Event()
    driver.graph.observe("y", lambda p: release.wait(10.0))
    driver.start({}, peers={"far": far})
    try:
        _, poll1 = far.pull.next()
        poll1.set_result(("g1", [(1, 10, PACKET, 10, 0)]))  # the edge's thread delivers it: the observer blocks
        puller = driver.pullers["y-><driver>"]
        wait_for(lambda: not puller.idle and not puller.arrivals)
        driver.graph.add_packet("x", 20, 20)
        driver.graph.add_packet("x", 21, 21)
        (_, _, batch, _, _), push1 = far.push.next()
        assert [it[1] for it in batch] == [20]
        push1.set_result((1, "g1", {}))
        (_, _, batch, _, _), _ = far.push.next()  # within next()'s 5 s, the edge thread still blocked
        assert [it[1] for it in batch] == [21] and not release.is_set() and puller.awaited == 0
    finally:
        release.set()
        driver.cancel()


def test_the_push_after_a_reply_carries_the_credit_of_the_batches_it_brought(fake_waits):
    """The edge thread that handled a push's reply sends the next push only after feeding the reply's batches, and
    no other thread overtakes it: here the observer of what came back adds the next packet (from the edge thread,
    during the feed), whose own kick would otherwise send it before that credit is owed. Without the credit the
    group's producer could only get it from the long poll in flight, which waits for items that producer cannot
    send (an int stream fell to a fifth of its rate)."""
    far = FakeGroup()
    driver = PartRunner(partition(validate(load_graph(HOP)))[DRIVER])
    driver.graph.observe("y", lambda p: driver.graph.add_packet("x", p.payload + 1, p.payload + 1))
    driver.start({}, peers={"far": far})
    try:
        far.pull.next()
        puller = driver.pullers["y-><driver>"]
        wait_for(lambda: puller.idle)
        driver.graph.add_packet("x", 10, 10)
        (_, _, batch, credit, _), push1 = far.push.next()
        assert [it[1] for it in batch] == [10] and credit == {"y-><driver>": 0}
        push1.set_result((1, "g1", {"y-><driver>": [(1, 10, PACKET, 10, 0)]}))
        (_, _, batch, credit, credit_for), _ = far.push.next()
        assert puller.awaited == 1
        assert [it[1] for it in batch] == [11] and (credit, credit_for) == ({"y-><driver>": 1}, "g1")
    finally:
        driver.cancel()


TWO_IN = {"input_streams": ["a", "b"], "output_streams": ["y"], "groups": {"far": {}},
          "nodes": [{"name": "pairs", "calculator": "RayTestPairs", "inputs": {"A": "a", "B": "b"},
                     "outputs": {"OUT": "y"}, "group": "far"}]}


def test_two_pushes_handed_to_the_idle_edge_thread_are_waited_for_together(fake_waits):
    """Two edges into the group, one back: both pushes are handed to the idle edge thread at once (the test holds
    its lock meanwhile), which then waits for either reply (``first_ready``, the general form of the single-push
    ``reply_within``), handles the one that came and leaves the other to the callback; both replies' batches are
    fed and their credit returned, whichever path handled them."""
    import ray_calcs  # noqa: F401 - registers RayTestPairs

    far = FakeGroup()
    driver, seen = driver_against(far, TWO_IN)
    try:
        _, poll1 = far.pull.next()
        puller = driver.pullers["y-><driver>"]
        wait_for(lambda: puller.idle)
        with puller.cond:  # the thread cannot take the first push before the second is handed too
            driver.graph.add_packet("a", 1, 10)
            driver.graph.add_packet("b", 2, 10)
            assert len(puller.awaiting) == 2
        pushes = {edge_id: fut for (edge_id, *_), fut in (far.push.next(), far.push.next())}
        assert sorted(pushes) == ["a->far", "b->far"]
        pushes["b->far"].set_result((1, "g1", {"y-><driver>": [(1, 10, PACKET, (1, 2), 0)]}))
        wait_for(lambda: seen == [(1, 2)])
        assert puller.awaited == 1  # the thread handled the reply that came; the other is the callback's
        wait_for(lambda: puller.owed == 1)  # fed (the observer runs before the credit is counted)
        driver.graph.add_packet("b", 3, 11)  # the thread kicks the answered edge itself: at once, with the credit
        (edge_id, _, _, credit, credit_for), push_b2 = far.push.next()
        assert (edge_id, credit, credit_for) == ("b->far", {"y-><driver>": 1}, "g1")
        push_b2.set_result((1, "g1", {}))
        pushes["a->far"].set_result((1, "g1", {"y-><driver>": [(2, 11, PACKET, (None, 3), 0)]}))
        wait_for(lambda: seen == [(1, 2), (None, 3)])
        assert driver.stats()["inboxes"]["y-><driver>"]["piggybacked_batches"] == 2
        wait_for(lambda: puller.owed == 1)
        driver.graph.add_packet("a", 4, 12)
        (_, _, _, credit, credit_for), _ = far.push.next()
        assert (credit, credit_for) == ({"y-><driver>": 1}, "g1")  # the second reply's credit rides the next push
        poll1.set_result(("g1", []))
    finally:
        driver.cancel()


def test_an_idle_edge_polls_less_and_less_often_until_items_come(fake_waits):
    """Each long poll that comes back empty makes the next wait twice as long, up to ``LONG_POLL_MAX_S``; one
    that brings items starts again from ``WAIT_SLICE_S`` (a poll's wait never delays items: it returns when they
    come)."""
    far = FakeGroup()
    driver = PartRunner(partition(validate(load_graph(HOP)))[DRIVER])
    driver.start({}, peers={"far": far})
    try:
        timeouts = []
        for _ in range(7):
            (_, _, _, timeout), poll = far.pull.next()
            timeouts.append(timeout)
            poll.set_result(("g1", []))
        assert timeouts == [min(actor.LONG_POLL_MAX_S, actor.WAIT_SLICE_S * 2 ** k) for k in range(7)]
        assert timeouts[-1] == actor.LONG_POLL_MAX_S > timeouts[0]  # capped
        (_, _, _, timeout), poll = far.pull.next()
        assert timeout == actor.LONG_POLL_MAX_S
        poll.set_result(("g1", [(1, 10, PACKET, 10, 0)]))
        (_, ack, _, timeout), _ = far.pull.next()
        assert (ack, timeout) == (1, actor.WAIT_SLICE_S)
        assert driver.stats()["inboxes"]["y-><driver>"]["empty_polls"] == 7
    finally:
        driver.cancel()


def reply_with(far: FakeGroup, driver: PartRunner, first_seq: int, n: int) -> None:
    """The app adds a packet; the fake group's reply to the push carries ``n`` items of ``y`` from ``first_seq``."""
    driver.graph.add_packet("x", first_seq, first_seq)
    _, push = far.push.next()
    push.set_result((1, "g1", {"y-><driver>": [(seq, seq, PACKET, seq, 0) for seq in range(first_seq, first_seq + n)]}))


@pytest.mark.parametrize("carried", [49, 50])
def test_credit_owed_never_waits_for_a_long_poll(fake_waits, carried):
    """A push reply brings ``carried`` items of a 100-item edge and no push follows to return their credit. With
    half the capacity owed, it goes in a credit-only pull (timeout 0) after ``CREDIT_HOLD_S``: the long poll in
    flight (up to ``LONG_POLL_MAX_S``) waits for items, and a group out of credit has none to send. Below half,
    the group still has credit: it waits for the next poll or push. A credit pull is one at a time, is no empty
    poll, and what it brings back (it may take items) is fed in order."""
    far = FakeGroup()
    driver, seen = driver_against(far)
    try:
        _, poll1 = far.pull.next()  # left in flight
        puller = driver.pullers["y-><driver>"]
        wait_for(lambda: puller.idle)
        reply_with(far, driver, 1, carried)
        wait_for(lambda: len(seen) == carried)
        if carried * 2 < 100:
            with pytest.raises(queue.Empty):
                far.pull.calls.get(timeout=0.3)
            assert puller.owed == carried
            return
        (_, ack, ack_for, timeout), credit1 = far.pull.next()
        assert (ack, ack_for, timeout) == (carried, "g1", 0.0) and puller.owed == 0
        reply_with(far, driver, 51, 50)  # while the first credit pull is out: no second one yet
        wait_for(lambda: len(seen) == 100 and puller.owed == 50)
        with pytest.raises(queue.Empty):
            far.pull.calls.get(timeout=0.2)
        credit1.set_result(("g1", [(101, 101, PACKET, 101, 0)]))  # it took an item: fed after seq 100
        (_, ack, _, timeout), credit2 = far.pull.next()
        assert (ack, timeout) == (51, 0.0) and seen == list(range(1, 102))
        credit2.set_result(("g1", []))
        wait_for(lambda: puller.credit_call is None)
        stats = driver.stats()["inboxes"]["y-><driver>"]
        assert (stats["credit_calls"], stats["empty_polls"], stats["pulls"]) == (2, 0, 1)
        poll1.set_result(("g1", []))
    finally:
        driver.cancel()


def test_a_push_soon_after_carries_the_credit_instead(fake_waits, monkeypatch):
    """Owed credit waits ``CREDIT_HOLD_S`` for a push to carry it (lock-step traffic on a small edge would
    otherwise make two calls a round trip): the next packet's push takes it, and no credit pull goes."""
    monkeypatch.setattr(actor, "CREDIT_HOLD_S", 2.0)
    far = FakeGroup()
    driver, seen = driver_against(far)
    try:
        _, poll1 = far.pull.next()
        wait_for(lambda: driver.pullers["y-><driver>"].idle)
        reply_with(far, driver, 1, 60)
        puller = driver.pullers["y-><driver>"]
        wait_for(lambda: puller.owed == 60)  # fed and counted (the observer runs before the credit is)
        driver.graph.add_packet("x", 100, 100)
        (_, _, _, credit, _), push2 = far.push.next()
        assert credit == {"y-><driver>": 60} and puller.credit_calls == 0
        push2.set_result((1, "g1", {}))
        poll1.set_result(("g1", []))
    finally:
        driver.cancel()
