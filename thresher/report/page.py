"""The report page: one self-contained HTML file (inline CSS, SVG and one small script).

A Content-Security-Policy allows only the page's own script (by hash) and inline styles: the
page loads nothing from anywhere, and even a trace that slipped past escaping could not run
code. Without JavaScript every section still reads; the script only adds a filter and
expand/collapse buttons to the trace browser. No clock and no host path go into the page, so
the same version renders byte for byte the same report.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape

from thresher.report.data import Figures
from thresher.report.diff import VersionDiff
from thresher.report.sections import SECTIONS, diff_section, summary_sections, table
from thresher.report.spans import CATEGORY_COLORS
from thresher.report.traces import TraceSample
from thresher.report.versions import VersionRef
from thresher.report.viewer import trace_browser

__all__ = ["render_page"]

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#212529;background:#fff}
header,main{max-width:1120px;margin:0 auto;padding:0 20px}
header{padding-top:16px}h1{font-size:22px;margin:8px 0}h2{border-bottom:1px solid #dee2e6;
padding-bottom:4px;margin-top:32px}h3{font-size:15px;margin:18px 0 6px}h4{margin:14px 0 4px}
nav{position:sticky;top:0;background:#f8f9fa;border-bottom:1px solid #dee2e6;padding:6px 20px;
z-index:2}nav a{margin-right:12px;white-space:nowrap}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}
th,td{border:1px solid #dee2e6;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f1f3f5}td{max-width:520px;overflow-wrap:break-word}
code{font-size:12px}pre{white-space:pre-wrap;overflow-wrap:anywhere;margin:4px 0}
.intro,.note,.empty{color:#495057}.note{font-size:12px}
figure.hist{display:inline-block;margin:4px 14px 4px 0}figcaption{font-size:12px}
details.trace{border:1px solid #ced4da;border-radius:4px;margin:6px 0;padding:4px 8px;
scroll-margin-top:48px}
details.trace>summary{cursor:pointer}details.trace[open]{background:#fcfcfd}
.badge{display:inline-block;padding:0 6px;border-radius:8px;font-size:12px;background:#e9ecef}
.g-selected{background:#b2f2bb}.g-flawed_positive{background:#ffd8a8}.g-incorrect{background:#ffc9c9}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 10px;font-size:13px}
dl.facts dt{font-weight:600}dl.facts dd{margin:0;overflow-wrap:anywhere}
.question pre{background:#f8f9fa;padding:6px}
pre.text{font:13px/1.6 ui-monospace,monospace;border:1px solid #dee2e6;padding:8px;
background:#fff}
.sent{border-radius:2px}
mark.flaw{background:transparent;color:inherit;border-bottom:3px solid #adb5bd}
mark.sev-error{border-bottom-color:#e03131}mark.sev-warning{border-bottom-color:#f59f00}
span.sev-error{color:#c92a2a;font-weight:600}span.sev-warning{color:#e67700}
.legend .sent{padding:0 4px}
"""
_CSS += "".join(f".c-{k}{{background:{v}}}" for k, v in CATEGORY_COLORS.items())

_JS = """
(function(){
  var box=document.querySelector('#traces .controls');
  if(!box){return;}
  box.hidden=false;
  var traces=Array.prototype.slice.call(document.querySelectorAll('details.trace'));
  document.getElementById('filter').addEventListener('input',function(e){
    var q=e.target.value.trim().toLowerCase();
    traces.forEach(function(t){t.hidden=q!==''&&t.dataset.search.indexOf(q)<0;});
  });
  function all(open){traces.forEach(function(t){if(!t.hidden){t.open=open;}});}
  document.getElementById('expand').addEventListener('click',function(){all(true);});
  document.getElementById('collapse').addEventListener('click',function(){all(false);});
  if(location.hash.indexOf('#trace-')===0){
    var t=document.getElementById(location.hash.slice(1));if(t){t.open=true;}
  }
})();
"""


def _csp() -> str:
    digest = base64.b64encode(hashlib.sha256(_JS.encode()).digest()).decode()
    return (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    )


def _meta(version: VersionRef, figures: Figures) -> str:
    rows = [
        ("version", version.name),
        ("lake snapshot", version.snapshot_id),
        ("tagged at", version.created_at),
        ("recipe hash", version.recipe_hash or "–"),
        ("selection run", version.run_id or "–"),
        ("decision-trace head hash", version.head_hash or "–"),
        ("decision events", version.note.get("events", "–")),
    ]
    recipe = (
        f"<details><summary>recipe</summary><pre>{escape(figures.recipe_yaml)}</pre></details>"
        if figures.recipe_yaml
        else ""
    )
    check = (
        f'<p class="note">Check the decision chain with <code>thresher audit verify --version '
        f"{escape(version.name)}</code>; query anything here with <code>thresher sql --version "
        f'{escape(version.name)} "SELECT ..."</code>.</p>'
    )
    return table(("field", "value"), rows, cls="meta") + check + recipe


def render_page(
    version: VersionRef, figures: Figures, sample: TraceSample, diff: VersionDiff | None
) -> str:
    """The whole report as one HTML document."""
    shown = {t.trace_id for t in sample.traces}
    links = list(SECTIONS.items()) + [("diff", "Changes"), ("traces", "Trace browser")]
    nav = "".join(f'<a href="#{key}">{escape(title)}</a>' for key, title in links)
    title = f"thresher report — {version.name}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_csp()}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="thresher report">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{escape(title)}</h1>{_meta(version, figures)}</header>"
        f"<nav>{nav}</nav><main>"
        + summary_sections(figures, shown)
        + diff_section(diff, shown)
        + trace_browser(sample)
        + "</main>"
        f"<script>{_JS}</script></body></html>\n"
    )
