"""DescribeUserScramCredentials v0 and AlterUserScramCredentials v0: SCRAM users over the Kafka protocol.

Describe answers each named user's mechanisms and iteration counts (every user for a null or empty
list), never salts or keys. Alter deletes and upserts credentials; an upsertion carries the salt and
the salted password the client computed, of which only the stored and server keys are kept. One
result per user: an invalid alteration of a user fails all of that user's alterations. The change
is in the metadata store when the answer is sent; other brokers see it within a second.

Errors, per user: RESOURCE_NOT_FOUND (91) to describe a user without credentials or to delete a
credential that does not exist; DUPLICATE_RESOURCE (92) for a user named twice in a describe, or a
(user, mechanism) altered twice in one request; UNSUPPORTED_SASL_MECHANISM (33) for a mechanism
other than 1 (SCRAM-SHA-256) and 2 (SCRAM-SHA-512); UNACCEPTABLE_CREDENTIAL (93) for an empty user
name, an empty salt or salted password, or iterations outside 4096-16384.
With `--authorizer acl`, Describe needs DESCRIBE on the cluster and Alter ALTER on it, as in Kafka:
CLUSTER_AUTHORIZATION_FAILED (31) otherwise (Describe's top-level error; each of Alter's results).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from streamhouse.broker.security.authorizer import Operation
from streamhouse.broker.security.scram import MECHANISM_TYPES, MECHANISMS_BY_TYPE, ScramError, check_credential
from streamhouse.protocol.apis.alter_user_scram_credentials import ALTER_USER_SCRAM_CREDENTIALS
from streamhouse.protocol.apis.describe_user_scram_credentials import DESCRIBE_USER_SCRAM_CREDENTIALS
from streamhouse.protocol.errors import ErrorCode
from streamhouse.protocol.messages.alter_user_scram_credentials import (
    AlterUserScramCredentialsRequest,
    AlterUserScramCredentialsResponse,
    AlterUserScramCredentialsResult,
)
from streamhouse.protocol.messages.describe_user_scram_credentials import (
    CredentialInfo,
    DescribeUserScramCredentialsRequest,
    DescribeUserScramCredentialsResponse,
    DescribeUserScramCredentialsResult,
)

if TYPE_CHECKING:
    from streamhouse.broker.app import Broker
    from streamhouse.broker.server import Connection
    from streamhouse.protocol.wire import Request


async def handle_describe_user_scram_credentials(
    broker: Broker, request: Request[DescribeUserScramCredentialsRequest], connection: Connection
) -> DescribeUserScramCredentialsResponse:
    if denied := broker.authorizer.cluster_error(connection, Operation.DESCRIBE):
        return DescribeUserScramCredentialsResponse(error_code=denied, error_message=denied.name, results=[])
    users = broker.users
    named = [user.name for user in request.body.users or ()]
    if not named:
        named = sorted({credential.user for credential in users.all()})
    counts = Counter(named)
    results = []
    for name in dict.fromkeys(named):
        credentials = users.of_user(name)
        if counts[name] > 1:
            error, message = ErrorCode.DUPLICATE_RESOURCE, f"user {name} is named more than once"
        elif not credentials:
            error, message = ErrorCode.RESOURCE_NOT_FOUND, f"attempt to describe nonexistent user {name}"
        else:
            error, message = ErrorCode.NONE, None
        infos = [CredentialInfo(mechanism=MECHANISM_TYPES[c.mechanism], iterations=c.iterations) for c in credentials]
        results.append(
            DescribeUserScramCredentialsResult(
                user=name, error_code=error, error_message=message, credential_infos=infos if not error else []
            )
        )
    return DescribeUserScramCredentialsResponse(error_code=ErrorCode.NONE, error_message=None, results=results)


def _refusals(broker: Broker, body: AlterUserScramCredentialsRequest) -> dict[str, tuple[int, str]]:
    """The users whose alterations are refused, each with its first reason."""
    alterations = [(d.name, d.mechanism) for d in body.deletions] + [(u.name, u.mechanism) for u in body.upsertions]
    pairs = Counter(alterations)
    refusals: dict[str, tuple[int, str]] = {}

    def refuse(name: str, error: int, message: str) -> None:
        refusals.setdefault(name, (error, message))

    for name, mechanism in alterations:
        if mechanism not in MECHANISMS_BY_TYPE:
            refuse(name, ErrorCode.UNSUPPORTED_SASL_MECHANISM, f"unknown SCRAM mechanism type {mechanism}")
        elif not name:
            refuse(name, ErrorCode.UNACCEPTABLE_CREDENTIAL, "user name must not be empty")
        elif pairs[(name, mechanism)] > 1:
            which = MECHANISMS_BY_TYPE[mechanism]
            refuse(name, ErrorCode.DUPLICATE_RESOURCE, f"user {name} has more than one alteration of {which}")
    for deletion in body.deletions:
        deleted = MECHANISMS_BY_TYPE.get(deletion.mechanism)
        if deleted is not None and broker.users.get(deletion.name, deleted) is None:
            refuse(deletion.name, ErrorCode.RESOURCE_NOT_FOUND, f"user {deletion.name} has no {deleted} credential")
    for upsertion in body.upsertions:
        try:
            check_credential(upsertion.iterations, upsertion.salt, upsertion.salted_password)
        except ScramError as exc:
            refuse(upsertion.name, ErrorCode.UNACCEPTABLE_CREDENTIAL, str(exc))
    return refusals


async def handle_alter_user_scram_credentials(
    broker: Broker, request: Request[AlterUserScramCredentialsRequest], connection: Connection
) -> AlterUserScramCredentialsResponse:
    body = request.body
    users = dict.fromkeys([d.name for d in body.deletions] + [u.name for u in body.upsertions])
    if denied := broker.authorizer.cluster_error(connection, Operation.ALTER):
        return AlterUserScramCredentialsResponse(
            results=[
                AlterUserScramCredentialsResult(user=n, error_code=denied, error_message=denied.name) for n in users
            ]
        )
    refusals = _refusals(broker, body)
    for deletion in body.deletions:
        if deletion.name not in refusals:
            await broker.users.delete(deletion.name, MECHANISMS_BY_TYPE[deletion.mechanism])
    for u in body.upsertions:
        if u.name not in refusals:
            await broker.users.upsert_salted(
                u.name, MECHANISMS_BY_TYPE[u.mechanism], u.salt, u.iterations, u.salted_password
            )
    if body.deletions or body.upsertions:
        await broker.users.refresh()
    results = []
    for name in users:
        error, message = refusals.get(name, (ErrorCode.NONE, None))
        results.append(AlterUserScramCredentialsResult(user=name, error_code=error, error_message=message))
    return AlterUserScramCredentialsResponse(results=results)


HANDLES = {
    DESCRIBE_USER_SCRAM_CREDENTIALS.key: handle_describe_user_scram_credentials,
    ALTER_USER_SCRAM_CREDENTIALS.key: handle_alter_user_scram_credentials,
}
