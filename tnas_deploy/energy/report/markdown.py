"""Rendering the report's blocks as Markdown (CommonMark with GitHub tables; plots linked from plots/)."""
from __future__ import annotations

import re

from .document import PLOTS_DIR, Block, Bullets, FigureBlock, Heading, Inline, Para, Table, runs_of

_MD_ESCAPE = re.compile(r"([\\`*<>|])|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")


def _md_text(text: str) -> str:
    return _MD_ESCAPE.sub(lambda m: "\\" + m.group(0), text)


def _md_inline(content: Inline, in_table: bool = False) -> str:
    out = []
    for style, text in runs_of(content):
        if style == "code":
            fence = "``" if "`" in text else "`"
            body = text.replace("|", "\\|") if in_table else text
            out.append(f"{fence}{body}{fence}" if fence == "`" else f"{fence} {body} {fence}")
        elif style in ("b", "bad", "em"):
            # CommonMark: no space just inside the markers, so keep the runs' outer spaces outside them
            core = text.strip()
            mark = "*" if style == "em" else "**"
            lead, trail = text[:len(text) - len(text.lstrip())], text[len(text.rstrip()):]
            out.append(f"{lead}{mark}{_md_text(core)}{mark}{trail}" if core else text)
        elif style.startswith("link:"):
            out.append(f"[{_md_text(text)}]({style[5:]})")
        else:
            out.append(_md_text(text))
    s = "".join(out)
    return s.replace("\n", " ") if in_table else s


def render_markdown(blocks: list[Block]) -> str:
    """The blocks as one Markdown document (ending in a newline)."""
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"{'#' * block.level} {_md_text(block.text)}")
        elif isinstance(block, Para):
            text = _md_inline(block.content)
            parts.append(f"*{text}*" if block.note and isinstance(block.content, str) else text)
        elif isinstance(block, Bullets):
            parts.append("\n".join(f"- {_md_inline(item)}" for item in block.items))
        elif isinstance(block, Table):
            lines = ["| " + " | ".join(_md_inline(h, in_table=True) for h in block.header) + " |",
                     "|" + "|".join(" ---: " if a == "r" else " --- " for a in block.align) + "|"]
            lines += ["| " + " | ".join(_md_inline(c, in_table=True) for c in row) + " |" for row in block.rows]
            parts.append("\n".join(lines))
        elif isinstance(block, FigureBlock):
            p = block.plot
            parts.append(f"![{_md_text(p.title)}]({PLOTS_DIR}/{p.name})\n\n*{_md_text(p.caption)}*" if p.caption
                         else f"![{_md_text(p.title)}]({PLOTS_DIR}/{p.name})")
    return "\n\n".join(parts) + "\n"
