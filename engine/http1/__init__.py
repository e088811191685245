"""HTTP/1.1 on trio sockets: a sans-IO core and the thin socket shells over it.

Sans-IO (bytes in, bytes or objects out; no sockets, no clock of their own):
``request_parser`` (the server's requests), ``response_writer`` (the server's responses),
``response_reader`` (one response, for both clients). Shells: ``server`` (+ ``server_sockets``),
``pool`` (keep-alive connections per origin, one request's round trip), ``client`` (status
callbacks) and ``aws_session`` (aiobotocore's HTTP session).

This package knows nothing of Notify: the server's own error bodies come from its caller.
"""
