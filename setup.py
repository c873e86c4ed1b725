"""The C extensions: the per-record loops of the PutRecords path (see each file's
header for why they are in C). Everything else about the package is in
``pyproject.toml``; building needs a C compiler, the Python headers and OpenSSL's
(libcrypto's MD5)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("shardline.server._recordwire", ["src/shardline/server/_recordwire.c"]),
        Extension(
            "shardline.storage._putroute",
            ["src/shardline/storage/_putroute.c"],
            libraries=["crypto"],
        ),
    ]
)
