"""The one error registry: every class knows whether it is retriable, and
``is_retriable`` answers the same for Shardline errors, service answers and transport
failures alike."""

from __future__ import annotations

import importlib
import pkgutil
import re

import aiohttp
import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)

import shardline
from shardline import errors
from shardline.errors import (
    DamagedRecords,
    InternalFailure,
    KinesisError,
    KMSOptInRequired,
    KMSThrottlingException,
    SerializationException,
    ShardlineError,
    ValidationException,
    error_class_for,
    error_code,
    is_retriable,
    is_retriable_code,
)
from shardline.sinks import SinkError, SinkUnavailableError
from shardline.stores.control import ControlStoreError, StaleEpochError
from shardline.stores.leases import LeaseStoreError

#: Every Kinesis code the registry knows, and whether AWS clients retry it.
KINESIS_CODES = {
    "ValidationException": False,
    "SerializationException": False,
    "InvalidArgumentException": False,
    "ResourceNotFoundException": False,
    "ResourceInUseException": False,
    "LimitExceededException": True,
    "ExpiredIteratorException": False,
    "ExpiredNextTokenException": False,
    "ProvisionedThroughputExceededException": True,
    "AccessDeniedException": False,
    "KMSNotFoundException": False,
    "KMSDisabledException": False,
    "KMSInvalidStateException": False,
    "KMSAccessDeniedException": False,
    "KMSOptInRequired": False,
    "KMSThrottlingException": True,
    "UnknownOperationException": False,
    "MissingAuthenticationTokenException": False,
    "IncompleteSignatureException": False,
    "UnrecognizedClientException": False,
    "InvalidSignatureException": False,
    "InternalFailure": True,
    "InternalFailureException": True,
    "ServiceUnavailable": True,
}


def _client_error(code: str, status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutRecords",
    )


@pytest.mark.parametrize(("code", "retriable"), sorted(KINESIS_CODES.items()))
def test_every_kinesis_code_has_a_class_that_says_whether_to_retry(
    code: str, retriable: bool
) -> None:
    cls = error_class_for(code)
    assert cls is not KinesisError
    assert cls.retriable is retriable
    assert is_retriable_code(code) is retriable
    assert is_retriable(_client_error(code)) is retriable
    assert is_retriable(cls("m")) is retriable


def test_kms_codes_follow_the_aws_documentation() -> None:
    """KMSThrottlingException is request throttling (retry); KMSOptInRequired needs
    an operator to subscribe the account to KMS (give up)."""
    assert error_class_for("KMSThrottlingException") is KMSThrottlingException
    assert error_class_for("KMSOptInRequired") is KMSOptInRequired
    assert is_retriable(_client_error("KMSThrottlingException"))
    assert not is_retriable(_client_error("KMSOptInRequired"))


def test_the_event_stream_name_of_an_internal_failure_is_the_same_class() -> None:
    assert error_class_for("InternalFailureException") is InternalFailure
    assert DamagedRecords.event_stream_code == "InternalFailureException"
    assert error_class_for("com.amazon.coral.service#InternalFailure") is InternalFailure


def test_unknown_codes_are_retried_only_on_a_5xx() -> None:
    assert not is_retriable(_client_error("SomethingNew", 400))
    assert is_retriable(_client_error("SomethingNew", 500))
    assert is_retriable(_client_error("SomethingNew", 503))


@pytest.mark.parametrize(
    "code",
    [
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "TransactionInProgressException",
        "TransactionConflict",
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
    ],
)
def test_other_services_throttling_codes_are_retriable(code: str) -> None:
    assert is_retriable_code(code)


@pytest.mark.parametrize(
    "code", ["ConditionalCheckFailedException", "ConditionalCheckFailed", "ValidationError"]
)
def test_other_services_refusals_are_not(code: str) -> None:
    assert not is_retriable_code(code)


@pytest.mark.parametrize(
    "exc",
    [
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
        ConnectTimeoutError(endpoint_url="http://127.0.0.1:1"),
        ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientPayloadError("cut"),
        ConnectionResetError(),
        TimeoutError(),
    ],
    ids=type,
)
def test_connection_failures_and_timeouts_are_retriable(exc: Exception) -> None:
    assert is_retriable(exc)


@pytest.mark.parametrize(
    "exc",
    [NoCredentialsError(), ParamValidationError(report="bad"), KeyError("x"), ValueError()],
    ids=type,
)
def test_configuration_errors_and_bugs_are_not(exc: Exception) -> None:
    assert not is_retriable(exc)


def test_shardline_errors_answer_from_their_class() -> None:
    assert not is_retriable(ShardlineError("x"))
    assert is_retriable(SinkUnavailableError("x")) and not is_retriable(SinkError("x"))
    assert is_retriable(LeaseStoreError("x")) and is_retriable(ControlStoreError("x"))
    assert not is_retriable(StaleEpochError("x"))
    assert is_retriable(DamagedRecords("s", "shardId-000000000000", "1", "2", "crc"))


def test_error_code_reads_service_answers_only() -> None:
    assert error_code(_client_error("ResourceInUseException")) == "ResourceInUseException"
    assert error_code(OSError()) is None


def test_wire_bodies_spell_the_message_key_as_coral_does() -> None:
    assert KMSThrottlingException("slow").to_wire() == {
        "__type": "KMSThrottlingException",
        "message": "slow",
    }
    assert SerializationException("bad").to_wire() == {
        "__type": "SerializationException",
        "Message": "bad",
    }
    assert InternalFailure().to_wire() == {"__type": "InternalFailure"}


def _every_subclass(cls: type[object]) -> set[type[object]]:
    found: set[type[object]] = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _every_subclass(sub)
    return found


def test_the_docstring_draws_every_shardline_error() -> None:
    for module in pkgutil.walk_packages(shardline.__path__, "shardline."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    drawn = errors.__doc__ or ""
    missing = sorted(
        cls.__name__
        for cls in _every_subclass(ShardlineError)
        if cls.__module__.startswith("shardline.")
        and not re.search(rf"[─ ]{cls.__name__}\b", drawn)
    )
    assert missing == []


def test_error_registry_maps_codes_to_classes() -> None:
    assert error_class_for("ResourceNotFoundException").http_status == 400
    assert error_class_for("com.amazon.coral.service#InternalFailure") is InternalFailure
    assert InternalFailure.retriable and not ValidationException.retriable
