"""Launching a build on any runner: packaging for remote workers and runner-specific option helpers.

Remote workers (Dataflow, Flink, Spark, a portable job service with DOCKER/PROCESS/EXTERNAL
environments) run code from installed packages only: this project travels as a wheel
(``--extra_package``) with its dependency pins (``--requirements_file``), and nothing depends on
``save_main_session`` (every DoFn lives in an importable module). :func:`prepare_launch` adds what
is missing to the user's options; ``longlm package DIR`` (or ``python -m pipelines.runners package
DIR``) builds the same files once for reuse or for a custom container.

Workers read inputs and write outputs through Beam FileSystems only; the launcher lists the input
files (:func:`resolve_inputs`) and ships the list, the config and the DoFns inside the job.
"""

from __future__ import annotations

import argparse
import atexit
import fnmatch
import importlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import (
    FlinkRunnerOptions,
    GoogleCloudOptions,
    PipelineOptions,
    PortableOptions,
    SetupOptions,
    SparkRunnerOptions,
    StandardOptions,
    TestOptions,
    WorkerOptions,
)
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from pipelines.inputs import glob_base, match_inputs
from transforms.config_base import ConfigError
from transforms.ingest import InputFile

LOG = logging.getLogger("longlm.runners")

DISTRIBUTION = "longlm-pipeline"
#: Runners whose workers are threads or subprocesses of the launching process, sharing its installation.
LOCAL_RUNNERS = frozenset({"direct", "fnapi", "bundlebaseddirect", "switchingdirect", "interactive"})
#: Portable runners (a job service + SDK harness environments) and the environment each uses by default.
PORTABLE_RUNNERS = frozenset({"portable", "flink", "spark", "prism"})
#: Distributions never pinned in the worker requirements: the SDK itself comes with the worker image.
NOT_PINNED = frozenset({"apache-beam"})
_GCS_LOCATION = re.compile(r"^gs://[a-z0-9][-_.a-z0-9]{1,220}[a-z0-9](/.*)?$")
_PROJECT_ID = re.compile(r"^[a-z][-a-z0-9:.]+[a-z0-9]$")  # Beam's own check
_SPARK_LOCAL = re.compile(r"^local(\[.*\])?$")


# ---------------------------------------------------------------------------------------------
# Which runner, and where its workers run


def runner_name(options: PipelineOptions) -> str:
    """Short lower-case runner name: 'DataflowRunner', 'dataflow' and 'a.b.DataflowRunner' -> 'dataflow'."""
    runner = options.view_as(StandardOptions).runner or "DirectRunner"
    name = (runner if isinstance(runner, str) else type(runner).__name__).rsplit(".", 1)[-1].lower()
    return name[: -len("runner")] if name.endswith("runner") and name != "runner" else name


def environment_type(options: PipelineOptions) -> str | None:
    """The SDK harness environment a portable runner will use (Beam's defaults filled in), upper case."""
    name, env = runner_name(options), options.view_as(PortableOptions).environment_type
    if env:
        return env.upper()
    if name == "prism":
        return "LOOPBACK"
    if name == "flink" and options.view_as(FlinkRunnerOptions).flink_master in ("[auto]", "[local]"):
        return "LOOPBACK"
    if name == "spark" and _SPARK_LOCAL.match(options.view_as(SparkRunnerOptions).spark_master_url or ""):
        return "LOOPBACK"
    return "DOCKER" if name in PORTABLE_RUNNERS else None


def _is_local_runner_class(runner) -> bool:
    """True for a runner given as an FnApiRunner subclass (object or importable 'module.Class' name)."""
    if isinstance(runner, str):
        if "." not in runner:
            return False
        module, _, cls = runner.rpartition(".")
        try:
            runner = getattr(importlib.import_module(module), cls)
        except (ImportError, AttributeError):
            return False
    cls = runner if isinstance(runner, type) else type(runner)
    return issubclass(cls, FnApiRunner)


def workers_are_remote(options: PipelineOptions) -> bool:
    """True when workers do not share this process's installation, so the code must be shipped."""
    name = runner_name(options)
    if name in LOCAL_RUNNERS or _is_local_runner_class(options.view_as(StandardOptions).runner):
        return False
    return not (name in PORTABLE_RUNNERS and environment_type(options) == "LOOPBACK")


def is_launch_only(options: PipelineOptions) -> bool:
    """True for Dataflow with Beam's ``--dry_run=True``: the job is built but never submitted."""
    return runner_name(options) == "dataflow" and bool(options.view_as(TestOptions).dry_run)


def check_runner_options(options: PipelineOptions) -> None:
    """Fail fast (ConfigError) on options a runner needs; Beam would otherwise hang or fail late.

    Dataflow: --project, --region and a gs:// --temp_location (or --staging_location). With neither
    a valid temp nor staging location Beam looks for a default bucket over the network, which takes
    minutes to time out offline. PortableRunner: --job_endpoint.
    """
    name = runner_name(options)
    if name == "dataflow":
        gcp = options.view_as(GoogleCloudOptions)
        if not gcp.project or not _PROJECT_ID.match(gcp.project):
            raise ConfigError("--project", f"DataflowRunner needs a Google Cloud project id, got {gcp.project!r}")
        if not gcp.region:
            raise ConfigError("--region", "DataflowRunner needs --region (e.g. us-central1)")
        locations = [loc for loc in (gcp.temp_location, gcp.staging_location) if loc]
        if not locations or not all(_GCS_LOCATION.match(loc) for loc in locations):
            raise ConfigError("--temp_location", f"DataflowRunner needs gs://BUCKET/path locations, got {locations}")
    elif name == "portable" and not options.view_as(PortableOptions).job_endpoint:
        raise ConfigError("--job_endpoint", "PortableRunner needs --job_endpoint HOST:PORT of a Beam job service")


# ---------------------------------------------------------------------------------------------
# Packaging: a wheel of this project plus its pinned runtime dependencies


def source_root() -> Path | None:
    """The source checkout this code runs from (holds pyproject.toml), or None for an installed wheel."""
    root = Path(__file__).resolve().parents[1]
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and f'name = "{DISTRIBUTION}"' in pyproject.read_text(encoding="utf-8"):
        return root
    return None


def _copy_sources(root: Path, dest: Path) -> None:
    """Copy what the build backend needs (project files, package directories) without data or venvs."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib

    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    find = project.get("tool", {}).get("setuptools", {}).get("packages", {}).get("find", {})
    include = find.get("include", ["*"])
    readme = project.get("project", {}).get("readme")
    names = {"pyproject.toml", "setup.py", "setup.cfg", "MANIFEST.in", "LICENSE"}
    names |= {readme} if isinstance(readme, str) else set()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for entry in root.iterdir():
        if entry.is_file() and entry.name in names:
            shutil.copy2(entry, dest / entry.name)
        elif entry.is_dir() and any(fnmatch.fnmatchcase(entry.name, pat) for pat in include):
            shutil.copytree(entry, dest / entry.name, ignore=ignore)


def build_wheel(dest_dir: str) -> str:
    """Build a wheel of this project into `dest_dir` and return its path.

    Builds from a copy of the checkout (the source tree gets no build/ or egg-info), with the
    setuptools backend already installed (no download). Raises RuntimeError outside a checkout.
    """
    root = source_root()
    if root is None:
        raise RuntimeError(f"{DISTRIBUTION} is not running from a source checkout, so no wheel can be built; "
                           "pass --extra_package path/to/longlm_pipeline-*.whl (see `longlm package`)")
    os.makedirs(dest_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="longlm-src-") as src:
        _copy_sources(root, Path(src))
        hook = "import sys; from setuptools import build_meta as b; print(b.build_wheel(sys.argv[1]))"
        proc = subprocess.run([sys.executable, "-c", hook, os.path.abspath(dest_dir)], cwd=src,
                              capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"building the {DISTRIBUTION} wheel failed:\n{proc.stderr[-3000:]}")
    return os.path.join(os.path.abspath(dest_dir), proc.stdout.strip().splitlines()[-1])


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def worker_requirements(root: str = DISTRIBUTION) -> list[str]:
    """Exact pins (installed versions) of every runtime dependency of `root`, transitively, sorted.

    Extras are not followed and apache-beam is left out (the worker image brings the SDK). Pinning
    the full closure is what `--requirements_file` needs: Beam downloads each line with --no-deps.
    """
    from packaging.requirements import Requirement

    pins: dict[str, str] = {}
    stack = [root]
    while stack:
        for line in metadata.requires(stack.pop()) or []:
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            name = _canonical(req.name)
            if name in NOT_PINNED or name in pins:
                continue
            pins[name] = f"{metadata.distribution(req.name).metadata['Name']}=={metadata.version(req.name)}"
            stack.append(req.name)
    return sorted(pins.values(), key=str.lower)


def write_requirements(path: str) -> str:
    """Write :func:`worker_requirements` to `path` (one pin a line) and return the path."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"# Runtime pins for {DISTRIBUTION} workers (generated by `longlm package`).\n")
        f.write("\n".join(worker_requirements()) + "\n")
    return path


@dataclass
class LaunchPlan:
    """What :func:`prepare_launch` decided, for logs and ``--dry-run``."""

    runner: str
    remote_workers: bool
    wheel: str | None = None
    requirements: str | None = None
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        where = "remote (code shipped to them)" if self.remote_workers else "local (share this installation)"
        lines = [f"runner: {self.runner}; workers: {where}"]
        lines += [f"  {note}" for note in self.notes]
        return "\n".join(lines)


def _scratch_dir() -> str:
    path = tempfile.mkdtemp(prefix="longlm-package-")
    atexit.register(shutil.rmtree, path, True)
    return path


def custom_image(options: PipelineOptions) -> str | None:
    """The worker image the user chose (--sdk_container_image on Dataflow; on portable runners
    --environment_config IMAGE with the DOCKER environment, or --environment_option
    docker_container_image=IMAGE), or None for Beam's default image."""
    worker, portable = options.view_as(WorkerOptions), options.view_as(PortableOptions)
    image = worker.sdk_container_image or getattr(worker, "worker_harness_container_image", None)
    if not image and runner_name(options) in PORTABLE_RUNNERS and environment_type(options) == "DOCKER":
        image = portable.lookup_environment_option("docker_container_image") or portable.environment_config
    return image or None


def check_paths(options: PipelineOptions, paths) -> None:
    """Remote workers cannot see the launcher's disk: local paths are an error on Dataflow (its
    workers are always elsewhere) and a warning on other remote runners (their workers may share it)."""
    if not workers_are_remote(options):
        return
    local = [p for p in paths if p and FileSystems.get_scheme(p) in (None, "file")]
    if local and runner_name(options) == "dataflow":
        raise ConfigError("--input/--output", f"Dataflow workers cannot read local paths {local}; use gs://")
    for path in local:
        LOG.warning("%s is a local path: every remote worker must see it at the same place", path)


def prepare_launch(options: PipelineOptions, dry_run: bool = False, paths=()) -> LaunchPlan:
    """Check the runner's options and add what remote workers need; mutates and returns a plan.

    - always: ``--no_save_main_session`` unless the user chose (Dataflow would pickle __main__);
    - remote workers, unless the user passed --extra_package, --setup_file or a worker image
      (:func:`custom_image`): a freshly built wheel as ``--extra_package``;
    - remote workers, unless --requirements_file or a worker image: pinned requirements;
    - dry runs: ``--requirements_cache=skip`` (no dependency download at launch), and for Dataflow
      Beam's ``--dry_run=True`` (its option checks then skip the bucket lookups that need credentials).
    Call it before creating the Pipeline: Beam validates the options there.
    Raises ConfigError for missing runner options (see :func:`check_runner_options`), local
    `paths` (inputs, output, vocab) with Dataflow, or when no wheel can be built (not a source
    checkout: pass --extra_package).
    """
    check_runner_options(options)
    check_paths(options, paths)
    if dry_run and runner_name(options) == "dataflow":
        options.view_as(TestOptions).dry_run = True  # else creating the Pipeline already calls GCS
    setup = options.view_as(SetupOptions)
    if setup.save_main_session is None:
        setup.save_main_session = False
    plan = LaunchPlan(options.view_as(StandardOptions).runner or "DirectRunner", workers_are_remote(options))
    if not plan.remote_workers:
        return plan
    image = custom_image(options)
    needs_wheel = not (setup.extra_packages or setup.setup_file or image)
    needs_requirements = not (setup.requirements_file or image)
    scratch = _scratch_dir() if needs_wheel or needs_requirements else ""
    if needs_wheel:
        try:
            plan.wheel = build_wheel(scratch)
        except RuntimeError as e:
            raise ConfigError("--extra_package", str(e)) from e
        setup.extra_packages = [plan.wheel]
        plan.notes.append(f"code: --extra_package {plan.wheel}")
    else:
        plan.notes.append(f"code: as given ({', '.join(setup.extra_packages or []) or setup.setup_file or image})")
    if needs_requirements:
        plan.requirements = write_requirements(os.path.join(scratch, "requirements.txt"))
        setup.requirements_file = plan.requirements
        plan.notes.append(f"dependencies: --requirements_file {plan.requirements} (exact pins of this installation)")
    else:
        plan.notes.append(f"dependencies: as given ({setup.requirements_file or image})")
    if (dry_run or is_launch_only(options)) and setup.requirements_file and setup.requirements_cache is None:
        setup.requirements_cache = "skip"
        plan.notes.append("dry run: --requirements_cache=skip (nothing downloaded)")
    return plan


# ---------------------------------------------------------------------------------------------
# Inputs and offline translation


def resolve_inputs(patterns: list[str], dry_run: bool = False) -> list[InputFile]:
    """The files to read, as :func:`pipelines.inputs.match_inputs` lists them at launch.

    In a dry run, patterns on remote file systems (gs://, s3://, hdfs://...) are not listed (that
    needs credentials and network): each stands for itself as one placeholder input, which gives
    the same graph. Local patterns are always listed, so a typo still fails. Raises ConfigError.
    """
    if not dry_run:
        return match_inputs(patterns)
    remote = [p for p in patterns if FileSystems.get_scheme(p) not in (None, "file")]
    files = match_inputs([p for p in patterns if p not in remote]) if len(remote) < len(patterns) else []
    for pattern in remote:
        LOG.warning("dry run: %s is not listed (remote file systems are listed only at a real launch)", pattern)
        files.append(InputFile(path=pattern, source=pattern[len(glob_base(pattern)):] or pattern))
    return sorted(files, key=lambda f: (f.source, f.path))


def translate_offline(p, options: PipelineOptions):
    """Build the whole Dataflow job for pipeline `p` without submitting it (Beam's dry run).

    Needs the gcp extra, no credentials and no network. Consumes `p` (a pipeline runs once).
    Returns the job's pipeline proto: transforms, environments and the staged artifacts.
    """
    if runner_name(options) != "dataflow":
        raise ValueError(f"offline translation is for DataflowRunner, not {runner_name(options)}")
    options.view_as(TestOptions).dry_run = True
    p.run()
    return p.runner.proto_pipeline


def staged_artifacts(proto) -> list[str]:
    """Names of the files every environment of a pipeline proto stages to workers."""
    from apache_beam.portability.api import beam_runner_api_pb2

    names = set()
    for env in proto.components.environments.values():
        for dep in env.dependencies:
            payload = beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(dep.role_payload)
            names.add(payload.staged_name)
    return sorted(names)


def dry_run_report(p, options: PipelineOptions, plan: LaunchPlan) -> str:
    """What ``longlm build --dry-run`` adds after the stage graph: packaging, and for Dataflow the
    offline translation (transforms, staged artifacts). Consumes `p` for Dataflow."""
    lines = [plan.describe()]
    if runner_name(options) == "dataflow":
        proto = translate_offline(p, options)
        lines.append(f"dataflow job built offline (not submitted): {len(proto.components.transforms)} transforms; "
                     f"staged: {', '.join(staged_artifacts(proto))}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# `longlm package DIR`


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "package",
        help="build the wheel and pinned requirements that remote Beam workers install",
        description="Write DIR/longlm_pipeline-VERSION-py3-none-any.whl and DIR/requirements.txt, and print the "
        "Beam flags that ship them. `longlm build` does this by itself for remote runners; use this to "
        "build once, or to bake both into a custom worker container.",
    )
    p.add_argument("dir", metavar="DIR", help="output directory (local)")
    p.set_defaults(func=run)


def run(args) -> int:
    try:
        wheel = build_wheel(args.dir)
    except RuntimeError as e:
        print(f"longlm package: {e}", file=sys.stderr)
        return 2
    requirements = write_requirements(os.path.join(args.dir, "requirements.txt"))
    print(f"--extra_package={wheel} --requirements_file={requirements}")
    return 0


if __name__ == "__main__":  # pragma: no cover - `python -m pipelines.runners package DIR`
    parser = argparse.ArgumentParser(prog="python -m pipelines.runners")
    register(parser.add_subparsers(dest="command", required=True))
    parsed = parser.parse_args()
    sys.exit(parsed.func(parsed))
