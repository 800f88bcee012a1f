"""The link benchmark's pure logic: the plan, the mlx.launch command, the probe's output and the
verdicts against the guide's figures."""

from __future__ import annotations

import json

import pytest
from mlx._distributed_utils.common import Hostfile

from cluster_app.linkbench import core as linkbench
from cluster_app.linkbench.core import EXPECTATIONS, LinkbenchError, Plan, RankNode

ALPHA = RankNode("alpha", "alpha.local", "rdma_en3", True)
BETA = RankNode("beta", "beta.local", "rdma_en4", True)
BETA_NO_DEVICE = RankNode("beta", "beta.local", "", True)
BETA_TCP_ONLY = RankNode("beta", "beta.local", "rdma_en4", False)
IPS = {"alpha": "10.0.0.1", "beta": "10.0.0.2"}


def plan(requested, nodes=(ALPHA, BETA), worker_nodes=("alpha",)):
    return linkbench.plan_run(requested, nodes=list(nodes), worker_nodes=worker_nodes)


class TestPlan:
    def test_one_worker_serving_every_node_means_two_local_ring_ranks(self):
        chosen = plan("auto", worker_nodes=("alpha", "beta", "gamma"))
        assert chosen == Plan("ring", (), chosen.reason)
        assert chosen.local and chosen.ranks == 2
        assert "one worker serves every cluster node (alpha, beta)" in chosen.reason

    def test_a_single_cluster_node_also_runs_local_ranks(self):
        assert plan("ring", nodes=[ALPHA]).local

    def test_auto_picks_jaccl_when_every_node_has_rdma(self):
        chosen = plan("auto")
        assert (chosen.backend, chosen.nodes, chosen.ranks) == ("jaccl", (ALPHA, BETA), 2)
        assert not chosen.local

    @pytest.mark.parametrize("beta", [BETA_NO_DEVICE, BETA_TCP_ONLY])
    def test_auto_falls_back_to_ring_and_says_which_node_lacks_rdma(self, beta):
        chosen = plan("auto", nodes=(ALPHA, beta))
        assert (chosen.backend, chosen.nodes) == ("ring", (ALPHA, beta))
        assert chosen.reason.endswith("no RDMA device on beta")

    def test_ring_is_used_when_asked_even_with_rdma(self):
        chosen = plan("ring")
        assert (chosen.backend, chosen.nodes) == ("ring", (ALPHA, BETA))
        assert chosen.reason.endswith("as asked")

    def test_jaccl_on_one_machine_is_refused(self):
        with pytest.raises(LinkbenchError, match="they are one machine here") as refused:
            plan("jaccl", worker_nodes=("alpha", "beta"))
        assert refused.value.code == "jaccl_unavailable" and refused.value.status_code == 400

    def test_jaccl_without_a_device_names_the_node(self):
        with pytest.raises(LinkbenchError, match="for beta.$"):
            plan("jaccl", nodes=(ALPHA, BETA_NO_DEVICE))

    def test_an_unknown_backend_is_refused(self):
        with pytest.raises(LinkbenchError, match="one of auto, ring, jaccl") as refused:
            plan("mpi")
        assert refused.value.code == "invalid_backend"


class TestHostfile:
    def test_jaccl_hostfile_starts_rank_0_here_and_lists_each_nodes_device(self, tmp_path):
        content = linkbench.hostfile(plan("jaccl"), IPS)
        assert content == {"backend": "jaccl", "hosts": [
            {"ssh": "127.0.0.1", "ips": ["10.0.0.1"], "rdma": [None, "rdma_en3"]},
            {"ssh": "beta.local", "ips": ["10.0.0.2"], "rdma": ["rdma_en4", None]},
        ]}
        # mlx.launch reads it as we mean it.
        path = tmp_path / "hosts.json"
        path.write_text(json.dumps(content))
        parsed = Hostfile.from_file(str(path))
        assert parsed.backend == "jaccl"
        assert [(h.ssh_hostname, h.ips, h.rdma) for h in parsed.hosts] == [
            ("127.0.0.1", ["10.0.0.1"], [None, "rdma_en3"]),
            ("beta.local", ["10.0.0.2"], ["rdma_en4", None])]

    def test_ring_hostfile_has_no_devices(self):
        assert linkbench.hostfile(plan("ring"), IPS) == {"backend": "ring", "hosts": [
            {"ssh": "127.0.0.1", "ips": ["10.0.0.1"]},
            {"ssh": "beta.local", "ips": ["10.0.0.2"]}]}


class TestLaunchArgs:
    def test_local_ranks(self):
        args = linkbench.launch_args(plan("auto", worker_nodes=("alpha", "beta")), python="/py",
                                     cwd="/srv/panel", port=40000)
        assert args == ["/py", "-m", "cluster_app.linkbench.launch", "--backend", "ring",
                        "--starting-port", "40000", "--python", "/py", "--cwd", "/srv/panel",
                        "--hosts", "127.0.0.1", "-n", "2",
                        "--", "-m", "cluster_app.linkbench.rank", "--backend", "ring"]

    def test_ranks_on_the_nodes_read_the_hostfile_and_quick_is_passed_on(self):
        args = linkbench.launch_args(plan("auto"), python="/py", cwd="/srv", port=1,
                                     hostfile_path="/tmp/h.json", quick=True)
        assert args[args.index("--cwd") + 2:] == [
            "--hostfile", "/tmp/h.json", "--", "-m", "cluster_app.linkbench.rank",
            "--backend", "jaccl", "--quick"]

    def test_ranks_on_the_nodes_need_a_hostfile(self):
        with pytest.raises(ValueError):
            linkbench.launch_args(plan("auto"), python="/py", cwd="/srv", port=1)


class TestProbeOutput:
    def test_probe_messages_are_recognised(self):
        point = {"linkprobe": "point", "index": 0, "count": 2, "bytes": 4, "seconds": 4e-5}
        assert linkbench.parse_line(json.dumps(point) + "\n") == point
        result = {"linkprobe": "result", "points": []}
        assert linkbench.parse_line("  " + json.dumps(result)) == result

    @pytest.mark.parametrize("line", [
        "", "[WARN] Node with rank 1 exited with code 1", '{"linkprobe": "other"}',
        '{"bytes": 4}', "{not json", "[1, 2]", '{"linkprobe": "point"',
    ])
    def test_other_output_is_not_a_probe_message(self, line):
        assert linkbench.parse_line(line) is None

    def test_points_are_sorted_and_their_rate_recomputed(self):
        points = linkbench.clean_points([
            {"bytes": 1000, "seconds": 1e-6, "gbps": 123, "rounds": 3},
            {"bytes": 4, "seconds": 2e-6},
        ])
        assert points == [{"bytes": 4, "seconds": 2e-6, "gbps": 4 * 8 / 2e-6 / 1e9},
                          {"bytes": 1000, "seconds": 1e-6, "gbps": 8.0}]

    @pytest.mark.parametrize("raw", [
        [], [{"bytes": 4}], [{"bytes": "x", "seconds": 1}], [{"bytes": 0, "seconds": 1}],
        [{"bytes": 4, "seconds": 0}], [{"bytes": 4, "seconds": -1}],
        [{"bytes": 4, "seconds": "inf"}],
        ["4"],
    ])
    def test_nonsense_points_are_refused(self, raw):
        with pytest.raises(LinkbenchError):
            linkbench.clean_points(raw)


def pt(nbytes, seconds):
    return {"bytes": nbytes, "seconds": seconds, "gbps": nbytes * 8 / seconds / 1e9}


class TestSummary:
    def test_latency_at_the_smallest_size_and_best_bandwidth_from_1_mib(self):
        points = [pt(4, 40e-6), pt(1024, 50e-6), pt(512 * 1024, 1e-4), pt(1024**2, 1e-3),
                  pt(4 * 1024**2, 2e-3)]
        assert linkbench.summarise(points) == {"latency_us": 40.0,
                                               "bandwidth_gbps": 4 * 1024**2 * 8 / 2e-3 / 1e9}

    def test_without_large_sizes_bandwidth_is_the_largest_sizes(self):
        points = [pt(4, 10e-6), pt(64, 10e-6), pt(1024, 1e-3)]
        assert linkbench.summarise(points)["bandwidth_gbps"] == 1024 * 8 / 1e-3 / 1e9


class TestVerdicts:
    @pytest.mark.parametrize(("measured", "verdict"), [
        (40.0, "meets"), (100.0, "meets"), (100.5, "near"), (200.0, "near"), (200.5, "misses"),
        (None, "unknown")])
    def test_rdma_latency_is_a_ceiling(self, measured, verdict):
        assert linkbench.latency_verdict(measured, EXPECTATIONS["rdma"]) == verdict

    @pytest.mark.parametrize(("measured", "verdict"), [
        (875.0, "meets"), (876.0, "near"), (1400.0, "near"), (1401.0, "misses")])
    def test_tcp_latency_is_about_0_7_ms(self, measured, verdict):
        assert linkbench.latency_verdict(measured, EXPECTATIONS["tcp"]) == verdict

    @pytest.mark.parametrize(("measured", "verdict"), [
        (95.0, "meets"), (64.0, "meets"), (63.9, "near"), (40.0, "near"), (39.9, "misses"),
        (None, "unknown")])
    def test_rdma_bandwidth_within_a_fifth_of_80_gbps_meets_it(self, measured, verdict):
        assert linkbench.bandwidth_verdict(measured, EXPECTATIONS["rdma"]) == verdict

    def test_ring_is_compared_with_tcp_and_jaccl_with_rdma(self):
        assert linkbench.compare("ring", 350.0, 20.0) == {
            "link": "tcp", "label": "TCP",
            "latency": {"measured_us": 350.0, "expected_us": 700.0, "bound": "about",
                        "ratio": 0.5, "verdict": "meets"},
            "bandwidth": {"measured_gbps": 20.0, "expected_gbps": 10.0, "ratio": 2.0,
                          "verdict": "meets"},
        }
        rdma = linkbench.compare("jaccl", 150.0, None)
        assert rdma["link"] == "rdma" and rdma["latency"]["verdict"] == "near"
        assert rdma["bandwidth"] == {"measured_gbps": None, "expected_gbps": 80.0, "ratio": None,
                                     "verdict": "unknown"}


class TestExpectedCurves:
    def test_small_messages_take_the_latency_large_ones_the_bandwidth(self):
        curves = linkbench.expected_curves([4, 10**6])
        assert set(curves) == {"rdma", "tcp"}
        rdma_small, rdma_large = curves["rdma"]
        assert rdma_small["seconds"] == pytest.approx(100e-6 + 32 / 80e9, rel=1e-12)
        # 1 MB at 80 Gb/s takes 100 µs, as long as the latency: half the link's rate.
        assert rdma_large == pytest.approx({"bytes": 10**6, "seconds": 200e-6, "gbps": 40.0},
                                           rel=1e-12)
        assert curves["tcp"][1] == pytest.approx({"bytes": 10**6, "seconds": 1.5e-3,
                                                  "gbps": 8e6 / 1.5e-3 / 1e9}, rel=1e-12)


def test_points_read_as_sizes_and_times():
    assert linkbench.describe_point(pt(64 * 1024, 41.25e-6)) == "64 KiB: 41.2 µs, 12.7 Gb/s"
    assert linkbench.describe_point(pt(4, 0.0123)) == "4 B: 12,300.0 µs, 2.6e-06 Gb/s"
    assert [linkbench.format_bytes(n) for n in (4, 1536, 1024**2, 64 * 1024**2, 2 * 1024**3)] == [
        "4 B", "1.5 KiB", "1 MiB", "64 MiB", "2 GiB"]
