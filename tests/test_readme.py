"""The README's config reference is the output of `longlm init-config`, key for key."""

from pathlib import Path

from pipelines.config import render_default_config

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_config_reference_matches_init_config():
    text = README.read_text(encoding="utf-8")
    block = text.split("<!-- config-reference:start -->", 1)[1].split("<!-- config-reference:end -->", 1)[0]
    body = block.strip().removeprefix("```toml").removesuffix("```").strip()
    assert body == render_default_config().strip(), "README config reference is stale: paste `longlm init-config`"


def test_readme_names_the_two_commands():
    text = README.read_text(encoding="utf-8")
    assert "make demo" in text and "make test" in text
