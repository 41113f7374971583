"""Real Ray clusters on this machine for the tests, patient with a machine busy with
other work (these tests may get only its idle CPU)."""

from __future__ import annotations

import socket
from typing import Any

#: Ray's health checks and start-up limits, widened: a node that answers late is not dead.
#: Set them in the environment before Ray starts (the processes it starts read them).
PATIENT_RAY = {
    "RAY_health_check_period_ms": "10000",
    "RAY_health_check_timeout_ms": "60000",
    "RAY_health_check_failure_threshold": "30",
    "RAY_worker_register_timeout_seconds": "900",
    "RAY_gcs_server_request_timeout_seconds": "300",
    "RAY_agent_register_timeout_ms": "900000",  # a node's raylet waits for its agents
}


def agent_ports() -> dict[str, Any]:
    """Fixed ports for a node's agents: a raylet given none waits 30 s for the agents to
    write theirs to files, and dies when they start slower than that."""
    ports: dict[str, Any] = {}
    for key in ("metrics_agent_port", "dashboard_agent_listen_port", "runtime_env_agent_port"):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports[key] = s.getsockname()[1]
    return ports


def start_cluster(nodes: int, attempts: int = 4) -> Any:
    """`nodes` nodes of one CPU each; Ray gives a node 30 s to register, which a loaded
    machine can miss, so a failed start is tried again."""
    from ray.cluster_utils import Cluster

    for attempt in range(attempts):
        cluster = None
        try:
            cluster = Cluster(
                initialize_head=True,
                head_node_args={"num_cpus": 1, "include_dashboard": False, **agent_ports()},
            )
            for _ in range(nodes - 1):
                cluster.add_node(num_cpus=1, **agent_ports())
            return cluster
        except Exception:
            if cluster is not None:
                cluster.shutdown()
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")
