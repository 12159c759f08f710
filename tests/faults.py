"""Test scaffolding: transient failures and a retrying runner, to prove every stage survives retries.

Nothing here ships in the package: tests wrap the build's DoFns (``test_fault_injection.py``) so
that they call :func:`maybe_fail`, and run the build on :class:`RetryingFnApiRunner`
(``--runner faults.RetryingFnApiRunner``; ``tests/`` is on ``sys.path`` under pytest).

:func:`maybe_fail` is inert unless the environment variable ``LONGLM_FAULT_RATE`` is set to a number above 0: then
:func:`maybe_fail` raises :class:`TransientFault` at some of the places it is called, the runner
discards that attempt's outputs and retries, and the build must still finish with byte-identical
output. A call site is a name ("ingest", "write", "manifest") plus the key of the element being
processed; call it where a real worker could die, in particular *after* a side effect (a file
written) and before the outputs are emitted.

Knobs (environment variables, read on every call so tests can set them at run time):

- ``LONGLM_FAULT_RATE``: probability that one attempt at one (site, key) fails; 0 or unset = off.
- ``LONGLM_FAULT_SEED``: seed of the failure pattern (default 0).
- ``LONGLM_FAULT_SITES``: comma-separated fnmatch patterns of sites that may fail (default ``*``).
- ``LONGLM_FAULT_BUDGET``: most failures per site in one process (default 2), so a job converges
  within a runner's retry limit (Dataflow batch: 4 attempts per work item).

Failures are deterministic per attempt: attempt n of (site, key) fails iff a blake2b hash of
(seed, site, key, n) falls below the rate, the key has not failed before at this site, it has not
yet passed this site, and the site's budget is not spent. Attempts are counted per process, so a
retried bundle must land in the same process (the in-memory FnApiRunner, or a worker that keeps
its state, as Dataflow's SDK harness does); on other runners the pattern is still bounded.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import threading
from dataclasses import dataclass

from apache_beam.runners.portability.fn_api_runner import FnApiRunner

LOG = logging.getLogger("tests.faults")

ENV_RATE = "LONGLM_FAULT_RATE"
ENV_SEED = "LONGLM_FAULT_SEED"
ENV_SITES = "LONGLM_FAULT_SITES"
ENV_BUDGET = "LONGLM_FAULT_BUDGET"


class TransientFault(RuntimeError):
    """An injected failure: a runner should retry the bundle that raised it."""


@dataclass(frozen=True)
class FaultPlan:
    rate: float
    seed: int
    sites: tuple[str, ...]
    budget: int

    def covers(self, site: str) -> bool:
        return any(fnmatch.fnmatchcase(site, pattern) for pattern in self.sites)


class _Ledger:
    """Per-process record of attempts. Test-only state, touched only while a plan is active."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.attempts: dict[tuple[str, str], int] = {}
        self.passed: set[tuple[str, str]] = set()
        self.failed_keys: set[tuple[str, str]] = set()
        self.spent: dict[str, int] = {}
        self.injected: list[tuple[str, str, int]] = []


_LEDGER = _Ledger()
_PLAN_CACHE: dict[tuple, FaultPlan | None] = {}


def active_plan() -> FaultPlan | None:
    """The plan the environment asks for, or None when fault injection is off (the default)."""
    raw = os.environ.get(ENV_RATE)
    if not raw:
        return None
    key = (raw, os.environ.get(ENV_SEED), os.environ.get(ENV_SITES), os.environ.get(ENV_BUDGET))
    if key not in _PLAN_CACHE:
        rate = float(raw)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"{ENV_RATE} must be in [0, 1], got {raw!r}")
        sites = tuple(s.strip() for s in (key[2] or "*").split(",") if s.strip()) or ("*",)
        plan = FaultPlan(rate, int(key[1] or 0), sites, int(key[3] or 2)) if rate > 0 else None
        _PLAN_CACHE[key] = plan
    return _PLAN_CACHE[key]


def key_digest(key: object) -> str:
    """A short stable digest of an element key (str/bytes as is, anything else by its repr)."""
    data = key if isinstance(key, bytes) else (key if isinstance(key, str) else repr(key)).encode("utf-8", "replace")
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def _draw(seed: int, site: str, digest: str, attempt: int) -> float:
    h = hashlib.blake2b(f"{seed}\x00{site}\x00{digest}\x00{attempt}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2.0**64


def maybe_fail(site: str, key: object = "") -> None:
    """Raise TransientFault if the active plan says this attempt at (site, key) fails; else return.

    Returns at once when ``LONGLM_FAULT_RATE`` is unset or 0, so calls can stay in production code.
    """
    plan = active_plan()
    if plan is None or not plan.covers(site):
        return
    ident = (site, key_digest(key))
    with _LEDGER.lock:
        if ident in _LEDGER.passed:
            return
        attempt = _LEDGER.attempts.get(ident, 0) + 1
        _LEDGER.attempts[ident] = attempt
        fail = (
            ident not in _LEDGER.failed_keys
            and _LEDGER.spent.get(site, 0) < plan.budget
            and _draw(plan.seed, site, ident[1], attempt) < plan.rate
        )
        if not fail:
            _LEDGER.passed.add(ident)
            return
        _LEDGER.failed_keys.add(ident)
        _LEDGER.spent[site] = _LEDGER.spent.get(site, 0) + 1
        _LEDGER.injected.append((site, ident[1], attempt))
    raise TransientFault(f"injected transient failure at {site} (key {ident[1]}, attempt {attempt})")


def injected() -> list[tuple[str, str, int]]:
    """(site, key digest, attempt) of every failure injected in this process so far."""
    with _LEDGER.lock:
        return list(_LEDGER.injected)


def attempted_sites() -> set[str]:
    """Every site maybe_fail was called at in this process while a plan was active."""
    with _LEDGER.lock:
        return {site for site, _ in _LEDGER.attempts} | {site for site, _ in _LEDGER.passed}


def reset() -> None:
    """Forget every attempt (tests call it between builds)."""
    global _LEDGER
    _LEDGER = _Ledger()


# ---------------------------------------------------------------------------------------------
# A local runner that retries bundles, for fault-injection runs


class RetryingFnApiRunner(FnApiRunner):
    """The FnApiRunner (in-memory) with bundle retries, as Dataflow, Flink and Spark retry work.

    Beam's FnApiRunner fails the job on the first bundle error. This runner first attempts every
    bundle through FnApiRunner's own replay hook (outputs discarded, state restored, side effects
    kept) until an attempt succeeds, up to ``max_attempts``, then runs it for real. So every
    bundle runs at least twice and a failed attempt's side effects stay behind, which is what
    idempotent DoFns and atomic writes must survive. Use: ``--runner
    faults.RetryingFnApiRunner`` (with ``LONGLM_FAULT_RATE`` to inject failures).
    """

    max_attempts = 25

    def _run_bundle_multiple_times_for_testing(self, runner_execution_context, bundle_manager, data_input,
                                               data_output, fired_timers, expected_output_timers):
        state = runner_execution_context.state_servicer
        for attempt in range(1, self.max_attempts + 1):
            state.checkpoint()
            try:
                bundle_manager.process_bundle(data_input, data_output, fired_timers, expected_output_timers,
                                              dry_run=True)
                return
            except RuntimeError as e:
                if attempt == self.max_attempts:
                    raise
                LOG.info("bundle attempt %d failed, retrying: %s", attempt, str(e).strip().splitlines()[-1][:300])
            finally:
                state.restore()
