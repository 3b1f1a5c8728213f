"""Length-prefixed pickles over a pipe: how ragcli talks to its own worker processes
(the embedding pool, the parse workers). Both ends are ragcli, so pickle is safe here."""

from __future__ import annotations

import pickle
import struct
from typing import Any, BinaryIO

HEADER = struct.Struct("<Q")  # the size of the pickle that follows


def frame(value: Any) -> bytes:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(data)) + data


def send(stream: BinaryIO, value: Any) -> None:
    stream.write(frame(value))
    stream.flush()


def receive(stream: BinaryIO) -> Any:
    """The next value; ``EOFError`` when the stream ends before a whole frame."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        raise EOFError
    (size,) = HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)
