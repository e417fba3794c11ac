"""Where the generated protobuf module comes from.

`socle_pb2` is generated from proto/socle.proto by `protoc --python_out` at build time (into
BUILD/clients/python/gen, see clients/python/CMakeLists.txt), never committed, so it can not
drift from the schema. It is found either inside this package (an install that copied it
next to us) or as a top-level module on sys.path (PYTHONPATH=BUILD/clients/python/gen).
"""

try:
    from . import socle_pb2 as pb  # noqa: F401  (installed next to the package)
except ImportError:
    try:
        import socle_pb2 as pb  # noqa: F401  (PYTHONPATH=BUILD/clients/python/gen)
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "socle: socle_pb2 not found; generate it with "
            "`protoc -I proto --python_out=GEN proto/socle.proto` and put GEN on PYTHONPATH "
            "(the CMake build does this into BUILD/clients/python/gen)") from e

__all__ = ["pb"]
