"""Copy the browser tests' screenshots into the guides, scaled down (``make docs-screenshots``).

Why: the guides show what the browser tests see (``$ACM_SCREENSHOT_DIR``), never a picture
taken by hand that drifts from the product. The tests take full-size pages (1100-1280 pixels
wide, some several screens tall); committed as they are they would weigh megabytes, so each one
is drawn again by Debian's Chromium at ``WIDTH`` CSS pixels (and cut at ``MAX_HEIGHT``) and
saved as PNG. Usage: ``python docs/_hooks/screenshots.py SHOTS_DIR docs/img``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# screenshot the tests write -> (name in docs/img, width in pixels, tallest part kept)
SHOTS = {
    "harbor_packet.png": ("packet-harbor.png", 760, 900),
    "harbor_equity.png": ("packet-equity.png", 760, 760),
    "02_harbor.png": ("dashboard-harbor.png", 760, 760),
    "06_drill.png": ("dashboard-drill.png", 760, 1000),
    "contract_harbor_top.png": ("contract-summary.png", 760, 800),
    "hub-login.png": ("hub-login.png", 640, 240),
}


def shrink(shots: Path, dest: Path) -> list[Path]:
    """Redraw each known screenshot in ``shots`` into ``dest``; missing ones are named."""
    from playwright.sync_api import sync_playwright

    missing = [name for name in SHOTS if not (shots / name).exists()]
    if missing:
        raise SystemExit(
            f"{shots} lacks {', '.join(missing)}: run `make docs-screenshots`, which runs the "
            "browser tests that take them"
        )
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium")
        for name, (target, width, max_height) in SHOTS.items():
            page = browser.new_page(viewport={"width": width, "height": 200})
            # a file:// page, so the image (a file:// address) may load into it
            page.goto(shots.resolve().as_uri() + "/")
            page.set_content(
                "<style>html,body{margin:0}img{display:block;width:100%}</style>"
                f'<img src="{(shots / name).resolve().as_uri()}">'
            )
            page.wait_for_function("document.images[0].complete")
            height = min(
                max_height,
                page.evaluate("Math.ceil(document.images[0].getBoundingClientRect().height)"),
            )
            out = dest / target
            page.screenshot(
                path=str(out),
                full_page=True,
                clip={"x": 0, "y": 0, "width": width, "height": height},
            )
            page.close()
            written.append(out)
        browser.close()
    return written


if __name__ == "__main__":
    for path in shrink(Path(sys.argv[1]), Path(sys.argv[2])):
        print(f"{path}  {path.stat().st_size // 1024} KB")
