"""Render a Report as one self-contained HTML page (charts as data URIs) and as Markdown.

All text is HTML-escaped; the page has no scripts and loads nothing from the network.
"""

from __future__ import annotations

import base64
import html
import re

from pipelines.report.doc import Code, Figure, Heading, Para, Report, Sample, Table, Tiles
from pipelines.report.vocab import Part

_NUMERIC = re.compile(r"^[-+−]?[\d,.]+(%|e[-+]?\d+)?$|^–$|^[-+]?[\d,.]+ \(.*\)$")

CSS = """
:root{--fg:#1f2933;--muted:#66788a;--line:#e1e6eb;--bg:#f6f8fa;--card:#fff;--accent:#2f6fad;
--ok:#1e7b45;--bad:#b42318;--warn:#9a6700}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,
"Noto Sans CJK SC","Noto Sans SC","PingFang SC","Microsoft YaHei","WenQuanYi Micro Hei",sans-serif}
header{background:#17324d;color:#fff;padding:28px 40px 22px}
header h1{margin:0 0 4px;font-size:26px;font-weight:600}
header p{margin:0;color:#c4d3e2;font-size:14px}
nav{position:sticky;top:0;z-index:1;background:#fff;border-bottom:1px solid var(--line);padding:8px 40px;
display:flex;flex-wrap:wrap;gap:4px 18px;font-size:14px}
nav a{color:var(--accent);text-decoration:none}nav a:hover{text-decoration:underline}
main{max-width:1180px;margin:0 auto;padding:24px 40px 60px}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(132px,1fr));gap:12px;margin-bottom:24px}
.tile{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 16px}
.tile .v{font-size:21px;font-weight:600;word-break:break-all}.tile .l{color:var(--muted);font-size:13px}
.tile.id .v{font:600 15px/1.9 ui-monospace,monospace}
.tile.ok .v{color:var(--ok)}.tile.bad .v{color:var(--bad)}.tile.missing .v{color:var(--muted)}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:8px 28px 20px;margin:0 0 24px}
h2{font-size:20px;margin:18px 0 10px;display:flex;align-items:center;gap:10px}
h3{font-size:16px;margin:22px 0 8px;color:#334e68}
.badge{font-size:12px;font-weight:500;border-radius:10px;padding:1px 9px;background:#eef1f4;color:var(--muted)}
.badge.error{background:#fdecea;color:var(--bad)}
p.muted{color:var(--muted);font-size:14px}p.ok{color:var(--ok);font-weight:600}p.bad{color:var(--bad);font-weight:600}
p.missing{color:var(--muted);font-style:italic;background:#f3f4f6;border-left:3px solid #c7ced6;padding:4px 10px}
table{border-collapse:collapse;margin:8px 0 14px;font-size:14px;max-width:100%}
caption{text-align:left;color:var(--muted);font-size:13px;padding-bottom:4px}
th,td{border-bottom:1px solid var(--line);padding:4px 12px;text-align:left;vertical-align:top}
th{background:#f0f3f6;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td{word-break:break-word}
figure{margin:10px 0 18px}figure img{max-width:100%;height:auto;border:1px solid var(--line);border-radius:6px}
figcaption{color:var(--muted);font-size:13px;margin-top:4px}
pre{background:#f6f8fa;border:1px solid var(--line);border-radius:6px;padding:10px 14px;font-size:13px;
overflow:auto;max-height:420px}
.sample{border:1px solid var(--line);border-radius:6px;margin:10px 0;overflow:hidden}
.sample .t{background:#f0f3f6;padding:4px 12px;font-size:13px;color:#334e68;font-weight:600}
.sample .f{display:grid;grid-template-columns:70px 1fr;border-top:1px solid var(--line)}
.sample .k{padding:6px 10px;color:var(--muted);font-size:13px}
.sample .x{padding:6px 10px;white-space:pre-wrap;word-break:break-all;font-size:15px}
mark{white-space:nowrap}
mark.s{background:#ffe08a;color:#5c3c00;border-radius:3px;padding:0 3px;font:600 12px ui-monospace,monospace}
mark.e{background:#d7e6f5;color:#17324d;border-radius:3px;padding:0 3px;font:600 12px ui-monospace,monospace}
mark.u{background:#fdecea;color:var(--bad);border-radius:3px;padding:0 3px;font:12px ui-monospace,monospace}
footer{color:var(--muted);font-size:12px;text-align:center;padding:10px}
"""


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _table_html(t: Table) -> str:
    numeric = [bool(t.rows) and all(len(str(r[i])) <= 24 and _NUMERIC.match(str(r[i]))
                                    for r in t.rows if i < len(r) and str(r[i]) != "")
               for i in range(len(t.headers))]
    cls = [' class="n"' if n else "" for n in numeric]
    out = ["<table>"] + ([f"<caption>{esc(t.caption)}</caption>"] if t.caption else [])
    if any(t.headers):
        out.append("<tr>" + "".join(f"<th{c}>{esc(h)}</th>" for h, c in zip(t.headers, cls)) + "</tr>")
    for row in t.rows:
        cells = (f"<td{cls[i] if i < len(cls) else ''}>{esc(v)}</td>" for i, v in enumerate(row))
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join(out + ["</table>"])


def _parts_html(parts: list[Part]) -> str:
    marks = {"sentinel": "s", "eos": "e", "unknown": "u"}
    return "".join(esc(p.text) if p.kind == "text" else f'<mark class="{marks[p.kind]}">{esc(p.text)}</mark>'
                   for p in parts)


def _block_html(b) -> str:
    if isinstance(b, Para):
        return f'<p class="{esc(b.tone)}">{esc(b.text)}</p>' if b.tone else f"<p>{esc(b.text)}</p>"
    if isinstance(b, Heading):
        return f"<h3>{esc(b.text)}</h3>"
    if isinstance(b, Table):
        return _table_html(b)
    if isinstance(b, Figure):
        data = base64.b64encode(b.png).decode("ascii")
        cap = f"<figcaption>{esc(b.caption)}</figcaption>" if b.caption else ""
        return f'<figure><img src="data:image/png;base64,{data}" alt="{esc(b.alt)}">{cap}</figure>'
    if isinstance(b, Code):
        return f"<pre>{esc(b.text)}</pre>"
    if isinstance(b, Sample):
        rows = "".join(f'<div class="f"><div class="k">{esc(k)}</div>'
                       f'<div class="x" lang="zh-Hans">{_parts_html(v)}</div></div>' for k, v in b.fields)
        return f'<div class="sample"><div class="t">{esc(b.title)}</div>{rows}</div>'
    if isinstance(b, Tiles):
        return _tiles_html(b)
    raise TypeError(f"unknown block {type(b).__name__}")


def _tiles_html(t: Tiles) -> str:
    return '<div class="tiles">' + "".join(
        f'<div class="tile {esc(tone)}"><div class="v">{esc(v)}</div><div class="l">{esc(label)}</div></div>'
        for label, v, tone in t.items) + "</div>"


def to_html(report: Report) -> str:
    """The whole page. Deterministic: the same Report gives the same bytes."""
    nav = "".join(f'<a href="#{esc(s.id)}">{esc(s.title)}</a>' for s in report.sections)
    body = []
    for s in report.sections:
        badge = f' <span class="badge {esc(s.status)}">{esc(s.status)}</span>' if s.status else ""
        blocks = "\n".join(_block_html(b) for b in s.blocks)
        body.append(f'<section id="{esc(s.id)}"><h2>{esc(s.title)}{badge}</h2>\n{blocks}\n</section>')
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(report.title)}</title><style>{CSS}</style></head><body>\n"
        f"<header><h1>{esc(report.title)}</h1><p>{esc(report.subtitle)}</p></header>\n<nav>{nav}</nav>\n"
        f"<main>{_tiles_html(report.tiles)}\n" + "\n".join(body) +
        "\n</main><footer>written by longlm report from the manifest and output shards</footer></body></html>\n"
    )


# --- Markdown ---------------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def md_esc(text: object) -> str:
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ↵ ")


def _table_md(t: Table) -> str:
    lines = [f"*{md_esc(t.caption)}*", ""] if t.caption else []
    lines.append("| " + " | ".join(md_esc(h) for h in t.headers) + " |")
    lines.append("|" + "|".join(" --- " for _ in t.headers) + "|")
    lines += ["| " + " | ".join(md_esc(v) for v in row) + " |" for row in t.rows]
    return "\n".join(lines)


def _parts_md(parts: list[Part]) -> str:
    return "".join(md_esc(p.text) if p.kind == "text" else f"**`{p.text}`**" for p in parts)


def _block_md(b) -> str:
    if isinstance(b, Para):
        text = md_esc(b.text)
        return f"*{text}*" if b.tone in ("muted", "missing") else f"**{text}**" if b.tone in ("ok", "bad") else text
    if isinstance(b, Heading):
        return f"### {md_esc(b.text)}"
    if isinstance(b, Table):
        return _table_md(b)
    if isinstance(b, Figure):
        return f"![{md_esc(b.alt)}]({b.name})" + (f"\n\n*{md_esc(b.caption)}*" if b.caption else "")
    if isinstance(b, Code):
        return "```\n" + b.text.replace("```", "`\u200b``") + "\n```"
    if isinstance(b, Sample):
        return f"**{md_esc(b.title)}**\n\n" + "\n".join(f"- {md_esc(k)}: {_parts_md(v)}" for k, v in b.fields)
    if isinstance(b, Tiles):
        return "\n".join(f"- **{md_esc(label)}**: {md_esc(v)}" for label, v, _ in b.items)
    raise TypeError(f"unknown block {type(b).__name__}")


def to_markdown(report: Report) -> str:
    """summary.md: the same sections; charts referenced as the PNG files written beside it."""
    out = [f"# {md_esc(report.title)}", "", md_esc(report.subtitle), "", _block_md(report.tiles), ""]
    for s in report.sections:
        out += [f"## {md_esc(s.title)}" + (f" ({s.status})" if s.status else ""), ""]
        for b in s.blocks:
            out += [_block_md(b), ""]
    return "\n".join(out).rstrip("\n") + "\n"
