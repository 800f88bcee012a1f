"""The network poll in-process: a node's worker reading its counters twice (their source patched
to recorded numbers; the live test reads the real ones), what it writes and pushes, the node's
interface setting, and beat's fan-out to every node's control queue."""

from __future__ import annotations

from unittest import mock

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError

from arthur_panel.celery import app as celery_app
from cluster_app.jobs import events
from cluster_app.models import Node
from cluster_app.nodes import net_poll
from cluster_app.nodes.perf_history import series_history

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def forget_readings():
    cache.delete_many([net_poll._counters_key(name) for name in ("alpha", "beta", "gamma")])


def read_twice(first, second, seconds=2.0):
    with mock.patch.object(net_poll, "read_counters", autospec=True,
                           side_effect=[(100.0, first), (100.0 + seconds, second)]), \
         mock.patch.object(events, "publish", autospec=True) as publish:
        assert net_poll.net_read(node_name="alpha") is None  # nothing to compare with yet
        network = net_poll.net_read(node_name="alpha")
    return network, publish


def test_two_readings_give_rates_on_the_row_in_the_history_and_live(nodes):
    Node.objects.filter(name="alpha").update(network_interfaces=["bridge0", "en3"])
    network, publish = read_twice({"bridge0": (1000, 0), "en0": (0, 5)},
                                  {"bridge0": (5000, 2000), "en0": (9, 9)})
    assert network["interfaces"] == {"bridge0": {"rx": 2000, "tx": 1000}}
    assert network["missing"] == ["en3"]
    alpha = Node.objects.get(name="alpha")
    assert alpha.network == network
    history = series_history(alpha, "10s")
    assert [row["value"] for row in history["net.bridge0.rx"]] == [2000.0]
    assert set(history) == {"net.bridge0.rx", "net.bridge0.tx"}
    publish.assert_called_once_with([events.CLUSTER_GROUP], {
        "type": "node.network", "node": "alpha", "network": network})


def test_with_no_interfaces_set_every_one_with_traffic_but_loopback_is_read(nodes):
    network, _ = read_twice({"lo": (0, 0), "en0": (10, 10), "utun3": (0, 0)},
                            {"lo": (500, 500), "en0": (30, 10), "utun3": (0, 0)})
    assert network["interfaces"] == {"en0": {"rx": 10, "tx": 0}}


def test_an_unknown_node_reads_nothing(nodes):
    assert net_poll.net_read(node_name="omega") is None


def test_interface_names_are_checked_in_the_admin(nodes):
    alpha = Node.objects.get(name="alpha")
    alpha.network_interfaces = ["bridge0", "en2; rm -rf /"]
    with pytest.raises(ValidationError):
        alpha.full_clean()
    alpha.network_interfaces = ["bridge0", "en2"]
    alpha.full_clean()


def test_beat_asks_every_nodes_worker_on_its_control_queue(nodes, settings):
    with mock.patch.object(celery_app, "send_task", autospec=True) as send:
        net_poll.net_fanout()
    assert sorted(call.kwargs["queue"] for call in send.call_args_list) == [
        "node.alpha.control", "node.beta.control", "node.gamma.control"]
    assert {call.args[0] for call in send.call_args_list} == {net_poll.READ_TASK}


def test_the_real_counters_are_read(nodes):
    moment, counters = net_poll.read_counters()
    assert moment > 0 and "lo" in counters
    assert all(received >= 0 and sent >= 0 for received, sent in counters.values())



def test_a_reading_taken_while_another_of_the_node_is_under_way_is_dropped(nodes):
    """The worker's threads run polls queued during a stall side by side: the one that finds
    another reading of its node under way reads nothing, so no pair of counters is out of order
    (one that seemed to go down read as a reset, a spike of every byte since boot)."""
    readings = iter([(100.0, {"lo": (1000, 1000)}), (101.0, {"lo": (3000, 3000)}),
                     (100.7, {"lo": (5000, 5000)})])
    side_by_side = []

    def read_counters():
        moment, counters = next(readings)
        if moment == 101.0:  # alpha's second reading, under way
            side_by_side.append(net_poll.net_read(node_name="alpha"))
            side_by_side.append(net_poll.net_read(node_name="beta"))
        return moment, counters

    Node.objects.filter(name__in=["alpha", "beta"]).update(network_interfaces=["lo"])
    with mock.patch.object(net_poll, "read_counters", autospec=True,
                           side_effect=read_counters), \
         mock.patch.object(events, "publish", autospec=True):
        assert net_poll.net_read(node_name="alpha") is None
        network = net_poll.net_read(node_name="alpha")
    assert side_by_side == [None, None]  # alpha's dropped; beta's its first, nothing to compare
    assert network is not None and network["interfaces"] == {"lo": {"rx": 2000, "tx": 2000}}
    assert cache.get(net_poll._counters_key("alpha"))["at"] == 101.0
    assert cache.get(net_poll._counters_key("beta"))["at"] == 100.7  # each node its own lock
