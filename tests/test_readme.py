"""The README guides and stays true: short, names only commands that exist, and docs/config.md is
`longlm init-config`, key for key."""

import re
from pathlib import Path

from pipelines.build.config import render_default_config
from pipelines.cli import make_parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CONFIG_DOC = ROOT / "docs" / "config.md"


def _commands() -> set[str]:
    sub = next(a for a in make_parser()._actions if a.dest == "command")
    return set(sub.choices)


def test_config_reference_matches_init_config():
    text = CONFIG_DOC.read_text(encoding="utf-8")
    block = text.split("<!-- config-reference:start -->", 1)[1].split("<!-- config-reference:end -->", 1)[0]
    body = block.strip().removeprefix("```toml").removesuffix("```").strip()
    assert body == render_default_config().strip(), "docs/config.md is stale: paste `longlm init-config`"


def test_readme_names_the_two_commands():
    text = README.read_text(encoding="utf-8")
    assert "make demo" in text and "make test" in text


def test_readme_is_at_most_400_lines():
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 400


def test_every_longlm_command_the_docs_name_exists():
    known = _commands()
    assert {"build", "verify", "train"} <= known
    for doc in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        named = set(re.findall(r"\blonglm ([a-z][a-z-]*)", doc.read_text(encoding="utf-8")))
        assert named - known == set(), f"{doc.name} names commands that do not exist"


def test_readme_links_resolve():
    text = README.read_text(encoding="utf-8")
    targets = {t.split("#")[0] for t in re.findall(r"\]\(([^)\s]+)\)", text) if not t.startswith(("http", "#"))}
    assert targets and all((ROOT / t).exists() for t in targets), sorted(t for t in targets if not (ROOT / t).exists())
