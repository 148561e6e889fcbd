#!/usr/bin/env python3
"""Screenshots of the executed notebooks: docs/screenshots/<name>.png, what a reader sees (markdown, tables, plots).

Usage: /usr/bin/python3 tools/screenshots.py [NOTEBOOK.ipynb ...]   (default: notebooks/*.ipynb)

Each notebook is rendered with nbconvert's HTML exporter (code cells hidden, so a page shows the text, tables and
charts), then photographed by headless Chromium and cropped, with its colours reduced so the PNG stays small.
nbconvert's HTML template strips the elements of inline SVG outputs, so each chart's SVG is handed over as HTML
instead. Needs the Debian packages jupyter-nbconvert, chromium and python3-pil (not CI: a developer tool).
"""
import glob
import os
import subprocess
import sys
import tempfile

import nbformat
from nbconvert import HTMLExporter
from PIL import Image

WIDTH = 1000
MAX_HEIGHT = 16000
MAX_BYTES = 300 * 1024
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


def svg_as_html(nb):
    """Moves each chart's SVG into a text/html output (dropping the Vega-Lite spec, which needs a browser script)."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/svg+xml" in data:
                svg = data["image/svg+xml"]
                svg = "".join(svg) if isinstance(svg, list) else svg
                out["data"] = {"text/html": f'<div style="margin:4px 0">{svg}</div>'}


def render(path, out_png):
    nb = nbformat.read(path, as_version=4)
    svg_as_html(nb)
    exporter = HTMLExporter(template_name="lab")
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    html, _ = exporter.from_notebook_node(nb)
    with tempfile.TemporaryDirectory() as tmp:
        page = os.path.join(tmp, "page.html")
        with open(page, "w") as f:
            f.write(html)
        shot = os.path.join(tmp, "shot.png")
        subprocess.run(["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={tmp}/profile",
                        f"--window-size={WIDTH},{MAX_HEIGHT}", f"--screenshot={shot}", f"file://{page}"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        img = Image.open(shot).convert("RGB")
    # Crop the white space below the last line of content.
    bottom = img.height
    px = img.load()
    while bottom > 1 and all(px[x, bottom - 1] == (255, 255, 255) for x in range(0, img.width, 4)):
        bottom -= 1
    img = img.crop((0, 0, img.width, min(img.height, bottom + 16)))
    for colors in (256, 128, 64, 32):
        img.quantize(colors=colors).save(out_png, optimize=True)
        if os.path.getsize(out_png) <= MAX_BYTES:
            break
    return img.size, os.path.getsize(out_png)


def main(argv):
    paths = argv or sorted(p for p in glob.glob("notebooks/*.ipynb") if not p.endswith(".out.ipynb"))
    os.makedirs("docs/screenshots", exist_ok=True)
    for path in paths:
        name = os.path.splitext(os.path.basename(path))[0]
        out = f"docs/screenshots/{name}.png"
        (w, h), size = render(path, out)
        print(f"{out}: {w}x{h}, {size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
