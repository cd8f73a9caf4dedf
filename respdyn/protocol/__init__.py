"""Sans-I/O RESP: the request reader and the reply encoder (no socket, no gevent here)."""

from respdyn.protocol.encoder import encode, encode_into, encode_many, format_double
from respdyn.protocol.reader import RequestReader, split_args

__all__ = ["RequestReader", "encode", "encode_into", "encode_many", "format_double", "split_args"]
