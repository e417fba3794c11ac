"""socle: Python client for the socled NLP daemon (protocol socle/1, docs/python.md).

    import socle
    with socle.Client() as c:                      # the default local endpoint
        print(c.classify("a great film")["labels"][0])
        for r in c.map("ner", open("docs.txt"), window=32, aggregation="simple"):
            ...
"""

from .client import (TAG, TASKS, Client, Code, SocleError, SocleProtocolError,  # noqa: F401
                     SocleTimeoutError, default_local_endpoint, message_to_dict)
from ._pb import pb  # noqa: F401  (the generated socle_pb2 module, for raw requests)

__version__ = "0.1.0"

__all__ = ["Client", "Code", "SocleError", "SocleTimeoutError", "SocleProtocolError",
           "default_local_endpoint", "message_to_dict", "pb", "TAG", "TASKS", "__version__"]
