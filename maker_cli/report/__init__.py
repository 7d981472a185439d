"""`maker runs report`: one run of the store as a self-contained HTML page or a Markdown summary.

`figures` reads the run from the store into figures of a bounded size (pure data); `html_page`
draws them with plotly (imported only there, when a page is written); `markdown` tabulates them.
"""

from __future__ import annotations

from maker_cli.report.figures import build_report
from maker_cli.report.model import RunReport

__all__ = ["RunReport", "build_report"]
