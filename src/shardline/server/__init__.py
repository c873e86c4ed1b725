"""The Kinesis wire protocol in front of a region: HTTP, codecs, validation, handlers.

Only the CLI and tests import this package; the toolkit talks to a region over the
wire like any other Kinesis client.
"""
