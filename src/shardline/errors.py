"""Shardline's one exception hierarchy.

Every error Shardline raises derives from :class:`ShardlineError`. Errors that travel
over the Kinesis wire derive from :class:`KinesisError` and carry the AWS error code
(``__type``), the HTTP status AWS uses for it, and whether a client may retry. One
registry maps codes to classes, so the server renders an error and a client turns
the same code back into the same class::

    ShardlineError
    ├── ConfigError                        a setting is not allowed (key, value, allowed)
    │   └── TopologyError                  … in the topology file (shardline.topology)
    └── KinesisError                       code, http_status, retriable
        ├── ValidationException             400  constraint violated (model)
        ├── SerializationException          400  body does not match the shapes
        ├── InvalidArgumentException        400  semantically invalid argument
        ├── ResourceNotFoundException       400
        ├── ResourceInUseException          400  wrong state / already exists
        ├── LimitExceededException          400  retriable
        ├── ExpiredIteratorException        400
        ├── ExpiredNextTokenException       400
        ├── ProvisionedThroughputExceededException  400  retriable
        ├── AccessDeniedException           400
        ├── KMSNotFoundException / KMSDisabledException / ...  400
        ├── UnknownOperationException       400
        ├── MissingAuthenticationTokenException  400  request not signed
        ├── IncompleteSignatureException    400  malformed SigV4 Authorization / query
        ├── UnrecognizedClientException     400  unknown access key
        ├── InvalidSignatureException       400  wrong signature, scope or date
        ├── InternalFailure                 500  retriable
        │   └── DamagedRecords              500  stored records damaged (Shardline only)
        └── ServiceUnavailable              503  retriable

Why one registry: the server, the producer's retry policy and the consumer's
error handling all need the same answer to "is this retriable?".
"""

from __future__ import annotations

import re
from typing import ClassVar, TypeVar


class ShardlineError(Exception):
    """Root of every error Shardline raises."""


class ConfigError(ShardlineError, ValueError):
    """A setting is not allowed: the message names the key, the bad value and what is.

    Raised where the setting enters (a config class, the topology file, a command
    option), before any process or connection starts. Also a ``ValueError``.
    """

    @classmethod
    def invalid(cls, where: str, key: str, value: object, allowed: str) -> ConfigError:
        """``{where}{key} = {value!r} is not allowed: it must be {allowed}``."""
        return cls(f"{where}{key} = {value!r} is not allowed: it must be {allowed}")


class KinesisError(ShardlineError):
    """An error with a Kinesis wire identity (``__type`` code and HTTP status)."""

    code: ClassVar[str] = "InternalFailure"
    http_status: ClassVar[int] = 400
    retriable: ClassVar[bool] = False

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def to_wire(self) -> dict[str, str]:
        """The error body AWS sends: ``{"__type": code, "message": text}``."""
        body = {"__type": self.code}
        if self.message:
            body["message"] = self.message
        return body


_REGISTRY: dict[str, type[KinesisError]] = {}


def error_class_for(code: str) -> type[KinesisError]:
    """Map a wire ``__type`` code (with or without a ``prefix#``) to its class."""
    short = code.rsplit("#", 1)[-1].split(":", 1)[0]
    return _REGISTRY.get(short, KinesisError)


_E = TypeVar("_E", bound=type["KinesisError"])


def _registered(cls: _E) -> _E:
    cls.code = cls.__name__
    _REGISTRY[cls.code] = cls
    return cls


@_registered
class ValidationException(KinesisError):
    """A member violates a constraint of the service model."""


@_registered
class SerializationException(KinesisError):
    """The body cannot be read as the operation's input shape."""


@_registered
class InvalidArgumentException(KinesisError):
    """An argument is well formed but not acceptable now."""


@_registered
class ResourceNotFoundException(KinesisError):
    """The stream, shard or consumer does not exist (or is not ready)."""


@_registered
class ResourceInUseException(KinesisError):
    """The resource exists already or is in the wrong state."""


@_registered
class LimitExceededException(KinesisError):
    """An account or stream limit was hit; retry later."""

    retriable = True


@_registered
class ExpiredIteratorException(KinesisError):
    """A shard iterator is older than five minutes."""


@_registered
class ExpiredNextTokenException(KinesisError):
    """A pagination token is older than five minutes."""


@_registered
class ProvisionedThroughputExceededException(KinesisError):
    """A shard's throughput limit was hit; back off."""

    retriable = True


@_registered
class AccessDeniedException(KinesisError):
    """The caller may not perform the operation."""


@_registered
class KMSNotFoundException(KinesisError):
    """The KMS key named for encryption does not exist."""


@_registered
class KMSDisabledException(KinesisError):
    """The KMS key is disabled."""


@_registered
class KMSInvalidStateException(KinesisError):
    """The KMS key is in a state that forbids its use."""


@_registered
class KMSAccessDeniedException(KinesisError):
    """The KMS key may not be used by the caller."""


@_registered
class UnknownOperationException(KinesisError):
    """The X-Amz-Target names no Kinesis operation."""


@_registered
class MissingAuthenticationTokenException(KinesisError):
    """The request carries no SigV4 signature (a 400 on the JSON/CBOR envelope)."""


@_registered
class IncompleteSignatureException(KinesisError):
    """The Authorization header or presigned query lacks or garbles a SigV4 part."""


@_registered
class UnrecognizedClientException(KinesisError):
    """The access key (or security token) is not one this server knows."""


@_registered
class InvalidSignatureException(KinesisError):
    """The signature does not match, or its scope or date is not acceptable."""


@_registered
class InternalFailure(KinesisError):
    """The server failed; the request may be retried."""

    http_status = 500
    retriable = True


class DamagedRecords(InternalFailure):
    """Stored records of a shard are damaged on disk and cannot be served.

    AWS has no such case, so the wire code stays ``InternalFailure`` (any client
    handles it); the message names the damaged range in one fixed form, which
    :meth:`parse` reads back, so a consumer can tell it from a passing failure and
    read on with an iterator ``AFTER_SEQUENCE_NUMBER`` the range's last number.
    Retrying the same position gets the same answer: the records are lost on this
    region (``shardline verify`` lists them; a replica may still hold them).
    """

    _FORM = re.compile(
        r"Records (?P<first>\d+) to (?P<last>\d+) of (?P<shard>shardId-\d+) "
        r"in stream (?P<stream>\S+) are damaged"
    )

    def __init__(
        self, stream: str, shard_id: str, first_sequence: str, last_sequence: str, cause: str
    ) -> None:
        super().__init__(
            f"Records {first_sequence} to {last_sequence} of {shard_id} in stream {stream} "
            f"are damaged on disk ({cause}) and cannot be served. Get a shard iterator "
            f"AFTER_SEQUENCE_NUMBER {last_sequence} to read past them; the region's operator "
            "can list the damage with `shardline verify`."
        )
        self.stream = stream
        self.shard_id = shard_id
        self.first_sequence = first_sequence
        self.last_sequence = last_sequence
        self.cause = cause

    @classmethod
    def parse(cls, message: str) -> DamagedRecords | None:
        """The damage an ``InternalFailure`` message reports, or None for any other."""
        match = cls._FORM.search(message)
        if match is None:
            return None
        cause = message[match.end() :].partition("(")[2].partition(")")[0]
        return cls(match["stream"], match["shard"], match["first"], match["last"], cause)


@_registered
class ServiceUnavailable(KinesisError):
    """The server cannot serve now (overload, injected outage)."""

    http_status = 503
    retriable = True
