"""ctest entry point: `python3 run_tests.py PATTERN` runs the unittest files matching PATTERN in
this directory; exit 77 (skipped) when python3-zmq or python3-protobuf is missing or
socle_pb2 was not generated, or when every test skipped itself (no socled built); 0 when the
tests passed, 1 otherwise."""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))

try:
    import google.protobuf  # noqa: F401
    import zmq  # noqa: F401
except ImportError as e:
    print("skip: %s (install python3-zmq and python3-protobuf)" % e)
    sys.exit(77)
try:
    import socle  # noqa: F401
except ImportError as e:
    print("skip: %s" % e)
    sys.exit(77)

pattern = sys.argv[1] if len(sys.argv) > 1 else "test_*.py"
suite = unittest.defaultTestLoader.discover(HERE, pattern=pattern, top_level_dir=HERE)
result = unittest.TextTestRunner(verbosity=2).run(suite)
if not result.wasSuccessful():
    sys.exit(1)
# everything skipped (no socled built, say): tell ctest so rather than pass
sys.exit(77 if result.testsRun - len(result.skipped) <= 0 else 0)
