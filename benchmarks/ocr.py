"""OCR engines on rendered pages of real text: pages per second and word recall.

    python benchmarks/ocr.py [--pages 4] [--corpus /work/shared/data/cranfield/beir/corpus.jsonl]

Paragraphs of a real corpus (Cranfield abstracts, nobody here wrote them) are drawn on
A4 pages at 300 dpi in DejaVu Sans 10 pt, as a scanner would give them, then read back by
each installed engine (ragcli.load.ocr.engines). Word recall: the share of the page's
words (lower-cased, letters and digits) found in the OCR text, counted with
multiplicity. Images are made in memory; the first page also warms each engine (model
load) and is not timed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ragcli.load.ocr import engines, read_image  # noqa: E402

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
_WORD = re.compile(r"[a-z0-9]+")


def page_texts(corpus: Path, pages: int) -> list[str]:
    texts, page = [], []
    with corpus.open(encoding="utf-8") as handle:
        for line in handle:
            body = " ".join(json.loads(line).get("text", "").split())
            if len(body) > 400:
                page.append(body)
            if sum(len(p) for p in page) > 2500:
                texts.append("\n\n".join(page))
                page = []
                if len(texts) == pages + 1:
                    break
    return texts


def render(text: str):
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("L", (2480, 3508), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, 42)
    y = 200
    for paragraph in text.split("\n\n"):
        for line in textwrap.wrap(paragraph, 90):
            draw.text((200, y), line, fill=0, font=font)
            y += 60
        y += 60
    return image


def recall(truth: str, found: str) -> tuple[int, int]:
    want = Counter(_WORD.findall(truth.lower()))
    got = Counter(_WORD.findall(found.lower()))
    return sum((want & got).values()), sum(want.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=4)
    parser.add_argument(
        "--corpus", type=Path, default=Path("/work/shared/data/cranfield/beir/corpus.jsonl")
    )
    args = parser.parse_args()
    texts = page_texts(args.corpus, args.pages)
    images = [render(text) for text in texts]
    for name, engine in engines().items():
        read_image(images[0], engine)  # warm-up: model load
        started = time.perf_counter()
        outputs = [read_image(image, engine) for image in images[1:]]
        seconds = time.perf_counter() - started
        hits = total = 0
        for text, output in zip(texts[1:], outputs, strict=True):
            h, t = recall(text, output)
            hits += h
            total += t
        print(
            f"{name:10} {len(outputs) / seconds:5.2f} pages/s ({seconds / len(outputs):.2f} s/page)"
            f"  word recall {hits}/{total} ({hits / max(total, 1):.1%})"
        )


if __name__ == "__main__":
    main()
