"""Shardline's one exception hierarchy, and the one answer to "is this worth retrying?".

Every error Shardline raises derives from :class:`ShardlineError`, and every class
says on itself whether trying again may help (``retriable``). Errors that travel over
the Kinesis wire derive from :class:`KinesisError` and also carry the AWS error code
(``__type``) and the HTTP status AWS uses for it. One registry maps codes to classes,
so the server renders an error (:meth:`KinesisError.to_wire`) and a client turns the
same code back into the same class (:func:`error_class_for`)::

    ShardlineError                           retriable = False unless marked
    ├── ConfigError                          a setting is not allowed (also a ValueError)
    │   └── TopologyError                    … in the topology file   (topology)
    ├── KinesisError                         code, http_status, retriable
    │   ├── ValidationException               400  constraint violated (model)
    │   ├── SerializationException            400  body does not match the shapes
    │   ├── InvalidArgumentException          400  semantically invalid argument
    │   ├── ResourceNotFoundException         400
    │   ├── ResourceInUseException            400  wrong state / already exists
    │   ├── LimitExceededException            400  retriable
    │   ├── ExpiredIteratorException          400
    │   ├── ExpiredNextTokenException         400
    │   ├── ProvisionedThroughputExceededException  400  retriable
    │   ├── AccessDeniedException             400
    │   ├── KMSNotFoundException              400
    │   ├── KMSDisabledException              400
    │   ├── KMSInvalidStateException          400
    │   ├── KMSAccessDeniedException          400
    │   ├── KMSOptInRequired                  400  the account must subscribe to KMS
    │   ├── KMSThrottlingException            400  retriable (KMS request throttling)
    │   ├── UnknownOperationException         400
    │   ├── MissingAuthenticationTokenException  400  request not signed
    │   ├── IncompleteSignatureException      400  malformed SigV4 Authorization / query
    │   ├── UnrecognizedClientException       400  unknown access key
    │   ├── InvalidSignatureException         400  wrong signature, scope or date
    │   ├── InternalFailure                   500  retriable (InternalFailureException
    │   │   │                                      in a SubscribeToShard event stream)
    │   │   └── DamagedRecords                500  stored records damaged (Shardline only)
    │   └── ServiceUnavailable                503  retriable
    ├── AdminError                           a /_shardline call failed        (admin)
    ├── MalformedAggregateError              a KPL aggregate is corrupt      (framing.aggregation)
    ├── NotActiveError                       not ACTIVE in time (also a TimeoutError)  (kinesis)
    ├── CredentialsNotFound                  no access key for a region      (credentials)
    ├── StorageError                         a region's data directory       (storage.exceptions)
    │   ├── ChunkFault
    │   ├── ShardDamage
    │   │   └── IndexDamage
    │   └── StartupRefused                   serve refuses the directory
    │       ├── DataDirLocked
    │       ├── DataDirUnusable
    │       ├── DatabaseDamaged
    │       └── MasterKeyMismatch
    ├── CredentialsError                     the --credentials file          (server.auth.keys)
    ├── PolicyError                          an access policy                (server.auth.policy)
    ├── CertificateExistsError                                               (server.certs)
    ├── TlsConfigError                                                       (server.tls)
    ├── ProducerError                                                        (producer.exceptions)
    │   ├── InvalidRecordError               also a ValueError
    │   ├── ProducerClosedError
    │   ├── RecordFailedError                given up: a non-retriable error
    │   │   └── RecordExpiredError           … or its TTL ran out
    │   └── SpoolError
    │       ├── SpoolBoundError
    │       └── SpoolLockedError
    ├── ConsumerError                                                        (consumer.exceptions)
    │   ├── InvalidCheckpointError
    │   ├── LeaseLostError
    │   └── ShardEndNotCheckpointed
    ├── LeaseStoreError                      retriable: store unreachable    (stores.leases)
    ├── ControlStoreError                    retriable: store unreachable    (stores.control)
    ├── StaleEpochError                      fenced write: re-read, do not retry  (stores.control)
    ├── ReportFormatError                    a report of a newer version     (stores.reports)
    ├── ReplicationStopped                                                   (replication.progress)
    ├── FailbackError                                                        (failover.failback)
    ├── StateError                                                           (state.exceptions)
    │   ├── SnapshotExistsError
    │   ├── StateIntegrityError
    │   │   └── StateKeyError
    │   ├── StateNotFoundError
    │   ├── StateRestoreError
    │   └── StateStoreError
    ├── SinkError                                                            (sinks.exceptions)
    │   ├── InvalidSinkRecordError           also a ValueError
    │   │   └── MissingRecordIdError
    │   ├── SinkClosedError
    │   └── SinkUnavailableError             retriable
    ├── AckedLedgerError                                                     (pipeline.acked)
    ├── FolderInUseError                                                     (pipeline.folder)
    ├── StaleProcessesError                                                  (pipeline.folder)
    ├── DrillError                                                           (pipeline.handle)
    ├── LaunchError                                                          (pipeline.launch)
    ├── PreflightError                                                       (cli.preflight)
    └── ProcessStartError                                                    (testing)

Why one registry: the server, the producer's retry policy, the consumer's readers,
the replication copier and the sinks all need the same answer to "is this
retriable?". :func:`is_retriable` gives it for any exception: a Shardline error by
its class, a botocore ``ClientError`` by its code (Kinesis codes through the
classes above; the few other AWS services' codes the toolkit meets, DynamoDB's
throttling for instance, through :data:`RETRIABLE_FOREIGN_CODES`) or a 5xx status,
and connection failures and timeouts (botocore, aiohttp, ``OSError``) as retriable.

KMS, as AWS documents it for PutRecord(s), GetRecords and SubscribeToShard:
``KMSThrottlingException`` is request throttling ("the request was denied due to
request throttling"), so it is retried like ``ProvisionedThroughputExceededException``;
``KMSOptInRequired`` ("the access key ID needs a subscription for the service"),
like the disabled/not-found/invalid-state/access-denied errors, needs an operator
and is not retried.
"""

from __future__ import annotations

import asyncio
import re
from typing import ClassVar, TypeVar

import aiohttp
from botocore.exceptions import (
    ClientError,
    HTTPClientError,
    IncompleteReadError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError


class ShardlineError(Exception):
    """Root of every error Shardline raises.

    ``retriable`` says whether the same call may succeed if tried again later (a
    passing condition: throttling, an unreachable store); :func:`is_retriable`
    reads it. Subclasses that are retriable set it on the class.
    """

    retriable: ClassVar[bool] = False


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
    #: The body's key for the text: Coral spells it with a capital M for
    #: serialization errors only.
    message_key: ClassVar[str] = "message"
    #: Its name in a SubscribeToShard event stream, where the service model names it
    #: otherwise (None: the same as ``code``).
    event_stream_code: ClassVar[str | None] = None

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def to_wire(self) -> dict[str, str]:
        """The error body AWS sends: ``{"__type": code, "message": text}``."""
        body = {"__type": self.code}
        if self.message:
            body[self.message_key] = self.message
        return body


_REGISTRY: dict[str, type[KinesisError]] = {}


def error_class_for(code: str) -> type[KinesisError]:
    """Map a wire ``__type`` code (with or without a ``prefix#``) to its class."""
    short = code.rsplit("#", 1)[-1].split(":", 1)[0]
    return _REGISTRY.get(short, KinesisError)


#: Codes of the other AWS services the toolkit calls (DynamoDB for leases, the
#: control store and sinks) that mean "not now", and the cancellation reasons of a
#: DynamoDB transaction that do. Kinesis codes are not listed: their classes say.
RETRIABLE_FOREIGN_CODES = frozenset(
    {
        "InternalServerError",  # DynamoDB's 500
        "RequestLimitExceeded",  # DynamoDB account throughput
        "ThrottlingException",  # DynamoDB control plane, most AWS services
        "TransactionInProgressException",  # DynamoDB: same client token in flight
        "TransactionConflict",  # DynamoDB cancellation reasons …
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
    }
)


def is_retriable_code(code: str) -> bool:
    """Whether an AWS error code (Kinesis's or another service's) is worth retrying."""
    return error_class_for(code).retriable or code in RETRIABLE_FOREIGN_CODES


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a service answer (``ClientError``), else None."""
    if not isinstance(exc, ClientError):
        return None
    return str(exc.response.get("Error", {}).get("Code", ""))


#: Failures of the way to the service, not of the request: worth another try.
_TRANSIENT = (
    BotoConnectionError,
    HTTPClientError,
    IncompleteReadError,
    aiohttp.ClientError,
    OSError,
    asyncio.TimeoutError,
)


def is_retriable(exc: BaseException) -> bool:
    """Whether the call that raised ``exc`` may succeed if made again later.

    - a :class:`ShardlineError`: its class's ``retriable``;
    - a botocore ``ClientError``: its code (:func:`is_retriable_code`), or any 5xx;
    - a connection failure or timeout (botocore, aiohttp, ``OSError``): yes;
    - anything else (no credentials, bad parameters, a bug): no.
    """
    if isinstance(exc, ShardlineError):
        return exc.retriable
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return is_retriable_code(error_code(exc) or "") or int(status) >= 500
    return isinstance(exc, _TRANSIENT)


_E = TypeVar("_E", bound=type["KinesisError"])


def _registered(cls: _E) -> _E:
    cls.code = cls.__name__
    _REGISTRY[cls.code] = cls
    alias = cls.__dict__.get("event_stream_code")
    if alias is not None:
        _REGISTRY[alias] = cls
    return cls


@_registered
class ValidationException(KinesisError):
    """A member violates a constraint of the service model."""


@_registered
class SerializationException(KinesisError):
    """The body cannot be read as the operation's input shape."""

    message_key = "Message"


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
class KMSOptInRequired(KinesisError):
    """The account's access key needs a subscription to KMS: an operator must act."""


@_registered
class KMSThrottlingException(KinesisError):
    """KMS throttled the request the stream's encryption made; back off and retry."""

    retriable = True


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
    event_stream_code = "InternalFailureException"


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
