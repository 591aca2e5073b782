"""Rendering the report's blocks as one self-contained HTML page: inline CSS, plots embedded as base64 PNG,
nothing fetched from the network."""
from __future__ import annotations

import base64
import html

from .document import Block, Bullets, FigureBlock, Heading, Inline, Para, Table, runs_of

_CSS = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --alt: #f6f8fa; --accent: #0969da; --bad: #b42318; }
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: var(--fg);
       font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 28px 36px 72px; }
h1 { font-size: 1.75em; margin: 0 0 .6em; padding-bottom: .3em; border-bottom: 2px solid var(--line); }
h2 { font-size: 1.35em; margin: 2.2em 0 .6em; padding-bottom: .25em; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.08em; margin: 1.8em 0 .5em; }
h4 { font-size: 1em; margin: 1.4em 0 .4em; color: var(--muted); }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
ul { padding-left: 1.4em; }
li { margin: .15em 0; }
code { font: .86em/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
       background: var(--alt); border: 1px solid #e6eaef; border-radius: 4px; padding: .05em .35em;
       overflow-wrap: anywhere; }
.table-wrap { overflow-x: auto; margin: .8em 0 1.2em; }
table { border-collapse: collapse; font-size: .88em; }
th, td { border: 1px solid var(--line); padding: 4px 10px; vertical-align: top; }
th { background: var(--alt); font-weight: 600; text-align: left; white-space: nowrap; }
td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) td { background: #fbfcfd; }
.unknown { color: var(--muted); font-style: italic; }
.bad { color: var(--bad); font-weight: 600; }
.note { color: var(--muted); font-size: .9em; }
figure { margin: 1.2em 0 1.6em; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
figcaption { color: var(--muted); font-size: .88em; margin-top: .35em; }
nav.toc ul { columns: 2; list-style: none; padding-left: 0; }
@media print { main { max-width: none; padding: 0; } h2 { break-after: avoid; } figure { break-inside: avoid; } }
""".strip()


def _html_inline(content: Inline) -> str:
    out = []
    for style, text in runs_of(content):
        t = html.escape(text, quote=True)
        if style == "code":
            out.append(f"<code>{t}</code>")
        elif style == "b":
            out.append(f"<strong>{t}</strong>")
        elif style == "em":
            out.append(f"<em>{t}</em>")
        elif style == "bad":
            out.append(f'<span class="bad">{t}</span>')
        elif style.startswith("link:"):
            out.append(f'<a href="{html.escape(style[5:], quote=True)}">{t}</a>')
        elif text.startswith("unknown"):
            out.append(f'<span class="unknown">{t}</span>')
        else:
            out.append(t)
    return "".join(out)


def render_html(blocks: list[Block], title: str) -> str:
    """The blocks as one HTML page titled `title` (ending in a newline)."""
    body: list[str] = []
    in_toc = False
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f'<h{block.level} id="{html.escape(block.anchor, quote=True)}">'
                        f"{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Para):
            cls = ' class="note"' if block.note else ""
            body.append(f"<p{cls}>{_html_inline(block.content)}</p>")
        elif isinstance(block, Bullets):
            items = "".join(f"<li>{_html_inline(item)}</li>" for item in block.items)
            toc = all(isinstance(i, list) and len(i) == 1 and i[0][0].startswith("link:") for i in block.items)
            body.append(f'<nav class="toc"><ul>{items}</ul></nav>' if toc and not in_toc else f"<ul>{items}</ul>")
            in_toc = in_toc or toc
        elif isinstance(block, Table):
            head = "".join(f'<th{_cls(a)} scope="col">{html.escape(h)}</th>' for h, a in zip(block.header, block.align))
            rows = []
            for row in block.rows:
                cells = "".join(f"<td{_cls(a)}>{_html_inline(c)}</td>" for c, a in zip(row, block.align))
                rows.append(f"<tr>{cells}</tr>")
            body.append(f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
                        f"<tbody>{''.join(rows)}</tbody></table></div>")
        elif isinstance(block, FigureBlock):
            p = block.plot
            data = base64.b64encode(p.png).decode("ascii")
            cap = f"<figcaption>{html.escape(p.caption)}</figcaption>" if p.caption else ""
            body.append(f'<figure id="plot-{html.escape(p.name[:-4], quote=True)}">'
                        f'<img alt="{html.escape(p.title, quote=True)}" src="data:image/png;base64,{data}">'
                        f"{cap}</figure>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{html.escape(title)}</title>\n<style>\n{_CSS}\n</style>\n</head>\n<body>\n<main>\n"
            + "\n".join(body) + "\n</main>\n</body>\n</html>\n")


def _cls(align: str) -> str:
    return ' class="r"' if align == "r" else ""
