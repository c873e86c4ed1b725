"""The C extensions: the per-record loops of the record path (see each file's
header for why they are in C). Everything else about the package is in
``pyproject.toml``; building needs a C compiler, the Python headers and OpenSSL's
(libcrypto's MD5)."""

from setuptools import Extension, setup

#: Included by both extensions (the argument-count check they share).
SHARED_HEADER = "src/shardline/_arguments.h"

setup(
    ext_modules=[
        Extension(
            "shardline.server._recordwire",
            ["src/shardline/server/_recordwire.c"],
            depends=[SHARED_HEADER],
        ),
        Extension(
            "shardline.storage._putroute",
            ["src/shardline/storage/_putroute.c"],
            depends=[SHARED_HEADER],
            libraries=["crypto"],
        ),
    ]
)
