"""The cluster's counted families: events that happen in one process (a worker finishing a
job, the poll seeing a runner fail, the log follower reading lines) and are added up across
every process of the machine at scrape time (prometheus_client's multiprocess mode: each
process writes its own file under PROMETHEUS_MULTIPROC_DIR). What is a state rather than an
event (memory, instances, links, jobs waiting, health verdicts) is read at scrape time instead
(`collectors.py`): a process that pushed a gauge and died would leave its last value behind.

Every label is bounded: job kinds come from the job registry, models from exo's ids, nodes
and log classes from the inventory and the classifier."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# From a ping (a second) to a 378 GB download (hours).
JOB_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, float("inf"))

JOB_DURATION = Histogram(
    "arthur_job_duration_seconds", "Jobs run to an end, by kind and the state they ended in.",
    ["kind", "state"], buckets=JOB_BUCKETS)
RUNNER_FAILURES = Counter(
    "arthur_runner_failures", "exo runners seen failing by the cluster poll, by model.",
    ["model"])
LOG_LINES = Counter(
    "arthur_log_lines", "exo and runner log lines followed, by node and class (a line may have "
    "several; jaccl_error: a JACCL line that is an error or a known failure).",
    ["node", "class"])
RATE_LIMITED = Counter(
    "arthur_rate_limited", "Requests refused by a rate limit, by the limit and whose it was "
    "(key or user).", ["limit", "whose"])
