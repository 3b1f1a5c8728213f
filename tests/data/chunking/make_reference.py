"""Writes the chunks of the reference files as JSON (see README.md)."""

import hashlib
import json
import sys
from pathlib import Path

from ragcli.chunk import Chunker
from ragcli.load import load_file
from ragcli.weights import DEFAULT_EMBED_MODEL, load_tokenizer

DATA = ("scifact.txt", "cranfield.md", "scifact.jsonl", "fortranobject.c")


def main(repo: Path) -> None:
    files = [
        *sorted((repo / "examples/docs").iterdir()),
        *sorted((repo / "tests/data/eval/project_docs").iterdir()),
        *(repo / "tests/data/chunking" / name for name in DATA),
    ]
    tokenizer = load_tokenizer(DEFAULT_EMBED_MODEL)
    out = {}
    for path in files:
        docs = load_file(path, path.parent)
        entry: dict = {}
        for size, overlap in ((200, 32), (48, 0)):
            chunker = Chunker(tokenizer, chunk_size=size, overlap=overlap, max_tokens=256)
            chunks = chunker.chunk_many(docs)
            rows = [
                [c.doc_id, c.ordinal, c.start, c.end, c.n_tokens, c.location.to_dict()]
                for c in chunks
            ]
            sha = hashlib.sha256(json.dumps(rows).encode())
            for c in chunks:
                sha.update(c.text.encode())
            entry[f"{size}/{overlap}"] = {"chunks": len(chunks), "sha256": sha.hexdigest()}
            if (size, overlap) == (200, 32):
                entry["rows"] = rows
        out[path.relative_to(repo).as_posix()] = entry
    print(json.dumps(out, separators=(",", ":")).replace('},"', '},\n"'))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
