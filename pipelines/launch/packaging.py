"""Shipping this project to remote Beam workers: a wheel, pinned requirements, and the launch plan.

Remote workers (Dataflow, Flink, Spark, a portable job service with DOCKER/PROCESS/EXTERNAL
environments) run code from installed packages only: this project travels as a wheel
(``--extra_package``) with its dependency pins (``--requirements_file``), and nothing depends on
``save_main_session`` (every DoFn lives in an importable module). :func:`prepare_launch` adds what
is missing to the user's options; ``longlm package DIR`` builds the same files once for reuse or
for a custom container. Workers read inputs and write outputs through Beam FileSystems only.
"""

from __future__ import annotations

import atexit
import fnmatch
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
    PipelineOptions,
    PortableOptions,
    SetupOptions,
    StandardOptions,
    TestOptions,
    WorkerOptions,
)

from pipelines.launch.options import (
    PORTABLE_RUNNERS,
    check_runner_options,
    environment_type,
    is_launch_only,
    runner_name,
    workers_are_remote,
)
from transforms.config_base import ConfigError

LOG = logging.getLogger("longlm.runners")

DISTRIBUTION = "longlm-pipeline"
#: Distributions never pinned in the worker requirements: the SDK itself comes with the worker image.
NOT_PINNED = frozenset({"apache-beam"})


# ---------------------------------------------------------------------------------------------
# Packaging: a wheel of this project plus its pinned runtime dependencies


def source_root() -> Path | None:
    """The source checkout this code runs from (holds pyproject.toml), or None for an installed wheel."""
    root = Path(__file__).resolve().parents[2]
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
# Offline translation (Dataflow dry runs)


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
