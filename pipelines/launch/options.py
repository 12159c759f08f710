"""Which Beam runner a build uses and where its workers run, resolved from the user's Beam flags.

:func:`beam_options` turns the flags `longlm build` does not define into PipelineOptions (the local
default runner filled in); the other functions answer questions about those options and never
change them.
"""

from __future__ import annotations

import importlib
import re

from apache_beam.options.pipeline_options import (
    FlinkRunnerOptions,
    GoogleCloudOptions,
    PipelineOptions,
    PortableOptions,
    SparkRunnerOptions,
    StandardOptions,
    TestOptions,
)
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from transforms.config_base import ConfigError

#: The local default: the in-process FnApiRunner, one worker (bench/README.md says why);
#: --direct_running_mode=multi_processing --direct_num_workers=N opts in to worker processes.
DEFAULT_LOCAL_OPTIONS = ["--runner=FnApiRunner", "--direct_running_mode=in_memory", "--direct_num_workers=1"]
#: Runners whose workers are threads or subprocesses of the launching process, sharing its installation.
LOCAL_RUNNERS = frozenset({"direct", "fnapi", "bundlebaseddirect", "switchingdirect", "interactive"})
#: Portable runners (a job service + SDK harness environments) and the environment each uses by default.
PORTABLE_RUNNERS = frozenset({"portable", "flink", "spark", "prism"})
_GCS_LOCATION = re.compile(r"^gs://[a-z0-9][-_.a-z0-9]{1,220}[a-z0-9](/.*)?$")
_PROJECT_ID = re.compile(r"^[a-z][-a-z0-9:.]+[a-z0-9]$")  # Beam's own check
_SPARK_LOCAL = re.compile(r"^local(\[.*\])?$")


def beam_options(extra: list[str]) -> PipelineOptions:
    """PipelineOptions from the user's Beam flags, with the local default runner when none is named."""
    flags = list(extra)
    if not any(a == "--runner" or a.startswith("--runner=") for a in flags):
        named = {a.split("=")[0] for a in flags}
        flags = [f for f in DEFAULT_LOCAL_OPTIONS if f.split("=")[0] not in named] + flags
    return PipelineOptions(flags)


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


def _with_beam_parser(use) -> None:
    """Call `use(parser)` with the argparse parser that holds every Beam pipeline option."""
    PipelineOptions([]).get_all_options(add_extra_args_fn=use)


def unknown_beam_flags(extra: list[str]) -> list[str]:
    """The arguments of `extra` that no Beam pipeline option takes (Beam itself only logs a warning about
    them and goes on with its defaults)."""
    unknown: list[str] = []
    _with_beam_parser(lambda parser: unknown.extend(parser.parse_known_args(extra)[1]))
    return unknown


def beam_flag_names() -> list[str]:
    """Every option string of Beam's pipeline options (`--runner`, `--direct_num_workers`, ...)."""
    names: list[str] = []
    _with_beam_parser(lambda parser: names.extend(s for a in parser._actions for s in a.option_strings))
    return names
