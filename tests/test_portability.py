"""The same build on other runners: a portable job service (LOOPBACK and EXTERNAL workers) gives
byte-identical output to the FnApiRunner, and a Dataflow job for gs:// paths is built offline.

The job service and the worker pool run as separate processes, started and killed here. The
EXTERNAL workers run an interpreter that cannot see this checkout or its editable install: they
import the project only from the wheel `pipelines.launch.packaging.build_wheel` built, the way a remote
worker installs it from --extra_package.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.build.config import load_config
from pipelines.build.inputs import resolve_inputs
from pipelines.build.stages import assemble
from pipelines.cli import main
from pipelines.corpus.sample import write_sample_corpus
from pipelines.launch import packaging as runners
from pipelines.launch.options import workers_are_remote
from transforms.config_base import ConfigError

SMALL_CONFIG = """
[output]
documents_shards = 3
examples_shards = 2
"""
ROOT = Path(__file__).resolve().parents[1]
BUCKET = "gs://longlm-test-bucket"
GS_INPUT = f"{BUCKET}/raw/*.txt"
DATAFLOW_FLAGS = ["--runner", "DataflowRunner", "--project", "longlm-test-project", "--region", "us-central1",
                  "--temp_location", f"{BUCKET}/tmp"]


def _build(raw: Path, out: Path, cfg: Path, *flags: str) -> int:
    return main(["build", "--input", f"{raw}/*", "--output", str(out), "--config", str(cfg), *flags])


def _files(out: Path) -> dict[str, bytes]:
    """Every output file except run.json (wall time, host), by relative path."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != "run.json"}


def _assert_same_build(got: Path, expected: dict[str, bytes]) -> None:
    files = _files(got)
    assert sorted(files) == sorted(expected)
    for rel in expected:
        assert files[rel] == expected[rel], rel


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """(raw dir, config path, output files of the FnApiRunner build)."""
    tmp = tmp_path_factory.mktemp("portable")
    write_sample_corpus(str(tmp / "raw"), docs=16, seed=5)
    cfg = tmp / "corpus.toml"
    cfg.write_text(SMALL_CONFIG)
    assert _build(tmp / "raw", tmp / "fnapi", cfg, "--direct_running_mode=in_memory") == 0
    return tmp / "raw", cfg, _files(tmp / "fnapi")


# --- processes -------------------------------------------------------------------------------------


#: Runs argv[1:] with PR_SET_PDEATHSIG (Linux): the child gets SIGTERM when pytest dies, even when
#: pytest is killed before its finally blocks. A wrapper instead of preexec_fn: no code runs between
#: fork and exec in a parent that has gRPC threads.
_DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys\n"
    "try:\n    ctypes.CDLL(None).prctl(1, signal.SIGTERM)\nexcept Exception:\n    pass\n"
    "os.execvp(sys.argv[1], sys.argv[1:])"
)


@contextlib.contextmanager
def _process(cmd: list[str], log: Path, env: dict | None = None, cwd: Path | None = None):
    """Run `cmd` in its own process group; always kill the whole group (children included) on exit."""
    if sys.platform == "linux":
        cmd = [sys.executable, "-S", "-c", _DIE_WITH_PARENT, *cmd]
    with open(log, "wb") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)
        try:
            yield proc
        finally:
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
                try:
                    proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue


def _wait_for(ready, proc: subprocess.Popen, log: Path, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not start in {timeout}s:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _isolated_env(tmp: Path, extra_path: list[Path]) -> dict[str, str]:
    """Environment whose `python` skips site (so no editable install, no .pth files) and sees only
    the installed third-party packages plus `extra_path`. Beam's worker pool starts `python`."""
    bindir = tmp / "bin"
    bindir.mkdir(exist_ok=True)
    shim = bindir / "python"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    shim.chmod(0o755)
    paths = [str(p) for p in extra_path] + sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "LONGLM_"))}
    env.update(PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}", PYTHONPATH=os.pathsep.join(paths))
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> str:
    return runners.build_wheel(str(tmp_path_factory.mktemp("dist")))


@pytest.fixture(scope="module")
def job_endpoint(tmp_path_factory):
    """Beam's own Python job service in a separate process, which cannot import this project."""
    tmp = tmp_path_factory.mktemp("jobservice")
    port_file, log = tmp / "port", tmp / "jobservice.log"
    cmd = ["python", "-m", "apache_beam.runners.portability.local_job_service_main", "--port_file", str(port_file)]
    with _process(cmd, log, env=_isolated_env(tmp, []), cwd=tmp) as proc:
        _wait_for(port_file.exists, proc, log, "the job service")
        yield f"localhost:{port_file.read_text().strip()}"


@pytest.fixture(scope="module")
def worker_pool(tmp_path_factory, wheel):
    """A Beam worker pool (EXTERNAL environment) whose workers import the project from the wheel only."""
    tmp = tmp_path_factory.mktemp("workers")
    site = tmp / "site"
    zipfile.ZipFile(wheel).extractall(site)  # what pip does with a pure-Python wheel
    env = _isolated_env(tmp, [site])
    probe = "import pipelines.build.stages, transforms.ingest.parse, schemas.tables as s, apache_beam; print(s.__file__)"
    where = subprocess.run(["python", "-c", probe], env=env, cwd=tmp, capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()).is_relative_to(site), where.stdout
    blocked = subprocess.run(["python", "-c", "import pipelines"], env=_isolated_env(tmp, []), cwd=tmp,
                             capture_output=True)
    assert blocked.returncode != 0  # without the wheel the workers could not import the project at all
    port, log = _free_port(), tmp / "pool.log"
    cmd = ["python", "-m", "apache_beam.runners.worker.worker_pool_main", f"--service_port={port}"]
    with _process(cmd, log, env=env, cwd=tmp) as proc:
        _wait_for(lambda: _accepts(port), proc, log, "the worker pool")
        yield f"localhost:{port}", log


# --- portable runner -------------------------------------------------------------------------------


@pytest.mark.slow
def test_portable_runner_loopback_matches_fnapi(corpus, job_endpoint, tmp_path):
    raw, cfg, expected = corpus
    flags = ["--runner=PortableRunner", f"--job_endpoint={job_endpoint}", "--environment_type=LOOPBACK"]
    assert _build(raw, tmp_path / "out", cfg, *flags) == 0
    _assert_same_build(tmp_path / "out", expected)


@pytest.mark.slow
def test_portable_runner_external_workers_match_fnapi(corpus, job_endpoint, worker_pool, wheel, tmp_path):
    raw, cfg, expected = corpus
    address, pool_log = worker_pool
    flags = ["--runner=PortableRunner", f"--job_endpoint={job_endpoint}", "--environment_type=EXTERNAL",
             f"--environment_config={address}", f"--extra_package={wheel}", "--requirements_cache=skip"]
    assert _build(raw, tmp_path / "out", cfg, *flags) == 0
    assert "Starting worker" in pool_log.read_text(errors="replace")  # the pool's processes did the work
    _assert_same_build(tmp_path / "out", expected)


# --- packaging -------------------------------------------------------------------------------------


def test_wheel_ships_every_module_and_data_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in ("pipelines", "transforms", "schemas"):
        for path in (ROOT / package).rglob("*"):
            if path.suffix in (".py", ".toml", ".txt") and "__pycache__" not in path.parts:
                assert path.relative_to(ROOT).as_posix() in names
    assert any(n.endswith(".dist-info/METADATA") for n in names)


def test_worker_requirements_pin_this_installation():
    from importlib import metadata

    pins = dict(line.split("==") for line in runners.worker_requirements())
    assert {"pyarrow", "numpy", "sentencepiece"} <= {n.lower() for n in pins}
    assert not any(n.lower() == "apache-beam" for n in pins)
    for name, version in pins.items():
        assert metadata.version(name) == version


def test_local_runners_ship_nothing_and_never_pickle_main():
    options = PipelineOptions(["--runner=FnApiRunner"])
    plan = runners.prepare_launch(options)
    assert not plan.remote_workers and plan.wheel is None
    assert options.view_as(beam.options.pipeline_options.SetupOptions).save_main_session is False
    loopback = PipelineOptions(["--runner=PortableRunner", "--job_endpoint=localhost:1", "--environment_type=LOOPBACK"])
    assert not workers_are_remote(loopback)
    for flags in (["--runner=PortableRunner", "--job_endpoint=h:1"], ["--runner=FlinkRunner", "--flink_master=h:8081"],
                  ["--runner=SparkRunner", "--spark_master_url=spark://h:7077"], DATAFLOW_FLAGS):
        assert workers_are_remote(PipelineOptions(flags)), flags


# --- Dataflow, offline ----------------------------------------------------------------------------


class NetworkUsed(BaseException):
    """Raised on a network attempt; a BaseException, so no retry loop in Beam or google-auth swallows it."""


@pytest.fixture
def offline(monkeypatch):
    """Fail at once on any lookup of or connection to anything but this machine."""
    attempts: list = []
    local = ("localhost", "127.0.0.1", "::1", "0.0.0.0", None)
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        if host not in local:
            attempts.append(host)
            raise NetworkUsed(f"offline test: lookup of {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self, address):
        if isinstance(address, tuple) and address[0] not in local:
            attempts.append(address)
            raise NetworkUsed(f"offline test: connection to {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempts


def _top_level_stages(p: beam.Pipeline) -> list[str]:
    labels: list[str] = []

    class Visitor(beam.pipeline.PipelineVisitor):
        def enter_composite_transform(self, node):
            if node.full_label and "/" not in node.full_label:
                labels.append(node.full_label)

        def visit_transform(self, node):
            self.enter_composite_transform(node)

    p.visit(Visitor())
    return labels


def _stages_of_the_build(cfg: Path) -> list[str]:
    p = beam.Pipeline(options=PipelineOptions([]))
    assemble(p, load_config(str(cfg)), resolve_inputs([GS_INPUT], dry_run=True).files, f"{BUCKET}/out", [GS_INPUT])
    return _top_level_stages(p)


@pytest.fixture
def small_config(tmp_path) -> Path:
    cfg = tmp_path / "corpus.toml"
    cfg.write_text(SMALL_CONFIG)
    return cfg


def test_dataflow_job_for_gs_paths_is_built_offline_with_every_stage(offline, small_config):
    pytest.importorskip("apache_beam.runners.dataflow.internal.apiclient", reason="needs the gcp extra")
    options = PipelineOptions(DATAFLOW_FLAGS)
    plan = runners.prepare_launch(options, dry_run=True)
    files = resolve_inputs([GS_INPUT], dry_run=True).files
    p = beam.Pipeline(options=options)
    assemble(p, load_config(str(small_config)), files, f"{BUCKET}/out", [GS_INPUT])
    stages = _top_level_stages(p)
    assert {"Ingest", "Manifest"} <= set(stages) and any(s.startswith("Write") for s in stages)

    proto = runners.translate_offline(p, options)
    names = {t.unique_name for t in proto.components.transforms.values()}
    assert [s for s in stages if s not in names] == []
    staged = runners.staged_artifacts(proto)
    assert Path(plan.wheel).name in staged and "requirements.txt" in staged
    assert "pickled_main_session" not in staged  # workers import everything from the wheel
    assert offline == []


def test_cli_dry_run_for_dataflow_on_gs_paths(offline, small_config, capsys):
    pytest.importorskip("apache_beam.runners.dataflow.internal.apiclient", reason="needs the gcp extra")
    rc = main(["build", "--input", GS_INPUT, "--output", f"{BUCKET}/out", "--config", str(small_config),
               "--dry-run", *DATAFLOW_FLAGS])
    out = capsys.readouterr().out
    assert rc == 0, out
    graph = out.split("stages:", 1)[1].split("options:", 1)[0].split()
    assert [s for s in _stages_of_the_build(small_config) if s not in graph] == []
    assert "dataflow job built offline" in out and ".whl" in out and "requirements.txt" in out
    assert '"project": "longlm-test-project"' in out
    assert offline == []


def test_cli_with_beams_own_dry_run_flag_builds_the_job_and_stops(offline, small_config, capsys):
    pytest.importorskip("apache_beam.runners.dataflow.internal.apiclient", reason="needs the gcp extra")
    rc = main(["build", "--input", GS_INPUT, "--output", f"{BUCKET}/out", "--config", str(small_config),
               *DATAFLOW_FLAGS, "--dry_run=True"])
    assert rc == 0, capsys.readouterr()
    assert offline == []


def test_dataflow_refuses_local_paths():
    with pytest.raises(ConfigError, match="local paths"):
        runners.prepare_launch(PipelineOptions(DATAFLOW_FLAGS), dry_run=True, paths=["novels/*.txt", f"{BUCKET}/out"])
    runners.check_paths(PipelineOptions(DATAFLOW_FLAGS), [GS_INPUT, f"{BUCKET}/out"])  # no error


def test_cli_dataflow_without_a_bucket_fails_fast(offline, small_config, capsys):
    flags = [f for f in DATAFLOW_FLAGS if f not in ("--temp_location", f"{BUCKET}/tmp")]
    rc = main(["build", "--input", GS_INPUT, "--output", f"{BUCKET}/out", "--config", str(small_config),
               "--dry-run", *flags])
    assert rc == 2
    assert "--temp_location" in capsys.readouterr().err
    assert offline == []
