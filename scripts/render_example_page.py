"""Render examples/web/index.html to docs/example-page.png with Debian's Chromium (for the README).

The page is served from a local static server; its calls to the API are answered empty here, since
only the look of the page matters: `python scripts/render_example_page.py`.
"""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from playwright.sync_api import Route, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "examples" / "web"
OUT = ROOT / "docs" / "example-page.png"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        return


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(SITE)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1200, "height": 900})

            def no_api(route: Route) -> None:
                route.fulfill(status=503, body="")

            page.route("http://127.0.0.1:8080/**", no_api)
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/index.html")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(OUT), full_page=True)
            browser.close()
    finally:
        server.shutdown()
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
