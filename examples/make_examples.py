"""Rebuild examples/docs and examples/questions.jsonl from XQuAD English.

The example corpus is real Wikipedia text (via XQuAD, CC BY-SA 4.0): eight articles in
three formats (Markdown, HTML, plain text), each paragraph under its own heading so
search results show heading paths. Run from the repository root:

    python examples/make_examples.py ../shared/data/xquad_en/xquad.en.json
"""

from __future__ import annotations

import html
import json
import sys
from pathlib import Path

ARTICLES = {
    "Steam_engine": "md",
    "Oxygen": "md",
    "Packet_switching": "md",
    "Black_Death": "md",
    "Prime_number": "html",
    "Apollo_program": "html",
    "Nikola_Tesla": "txt",
    "Amazon_rainforest": "txt",
}
QUESTIONS_PER_ARTICLE = 3


def main(source: Path, out: Path) -> None:
    data = json.loads(source.read_text(encoding="utf-8"))["data"]
    docs = out / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    questions = []
    for article in data:
        fmt = ARTICLES.get(article["title"])
        if fmt is None:
            continue
        title = article["title"].replace("_", " ")
        slug = article["title"].lower()
        paragraphs = [p["context"] for p in article["paragraphs"]]
        path = docs / f"{slug}.{fmt}"
        if fmt == "md":
            body = [f"# {title}", ""]
            for number, text in enumerate(paragraphs, 1):
                body += [f"## Part {number}", "", text, ""]
            path.write_text("\n".join(body), encoding="utf-8")
        elif fmt == "html":
            parts = [
                f"<h2>Part {n}</h2>\n<p>{html.escape(t)}</p>" for n, t in enumerate(paragraphs, 1)
            ]
            path.write_text(
                "<!doctype html>\n<html><head><title>"
                + html.escape(title)
                + "</title><script>console.log('not content')</script></head>\n<body>\n"
                + "<nav><a href='/'>Home</a> | <a href='/wiki'>Wiki</a></nav>\n<article>\n<h1>"
                + html.escape(title)
                + "</h1>\n"
                + "\n".join(parts)
                + "\n</article>\n<footer>Text from Wikipedia, CC BY-SA 4.0.</footer>\n"
                + "</body></html>\n",
                encoding="utf-8",
            )
        else:
            path.write_text(title + "\n\n" + "\n\n".join(paragraphs) + "\n", encoding="utf-8")
        taken = 0
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"][:1]:
                questions.append(
                    {
                        "id": qa["id"],
                        "question": qa["question"],
                        "answers": [qa["answers"][0]["text"]],
                        "relevant": [f"examples/docs/{path.name}"],
                    }
                )
                taken += 1
            if taken >= QUESTIONS_PER_ARTICLE:
                break
    with (out / "questions.jsonl").open("w", encoding="utf-8") as handle:
        for question in questions:
            handle.write(json.dumps(question, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(__file__).resolve().parent)
