"""Request recorder for benchmarks (loaded as an `on_infra_start` hook); off until switched on.

Every AWS request the gateway serves, with who made it, when it started and ended, and, for a
Lambda `Invoke`, the function, the number of SQS records in its payload and whether it failed.
`make bench` counts API calls per service and caller with it, and draws the invocation rate and
the concurrent batches of the protected function from it. Internal requests (Step Functions'
service integrations, event source mapping pollers, EventBridge targets, SNS deliveries) pass the
gateway too and carry LocalStack's service principal; a request signed with a Lambda execution
environment's credentials is attributed to that function (the executor registers the keys), one
signed with credentials from AssumeRole to that role (Step Functions' SDK integrations).

    GET    /_localstack/harness/requests?after=SEQ  -> {"recording", "seq", "records": [...]}
    POST   /_localstack/harness/requests {"recording": true|false}
    DELETE /_localstack/harness/requests             (forget what was recorded)

Each record is a list, see FIELDS. Nothing is recorded (and nothing costs) while it is off.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from localstack.runtime import hooks

from localstack_harness.recorder_logic import access_key, payload_records

LOG = logging.getLogger("localstack_harness.recorder")
PATH = "/_localstack/harness/requests"
FIELDS = (
    "seq",
    "start",  # epoch seconds
    "end",
    "service",
    "operation",
    "status",
    "principal",  # an internal request's service principal ("internal" if none), else null
    "source",  # the internal request's source ARN, else null
    "caller",  # who signed the request: a Lambda function's name, or "role/<name>", else null
    "function",  # Invoke: FunctionName
    "records",  # Invoke: number of SQS records in the payload, else null
    "error",  # Invoke: X-Amz-Function-Error, else null
)
MAX_RECORDS = 2_000_000

_LOCK = threading.Lock()
_RECORDS: deque[list[Any]] = deque(maxlen=MAX_RECORDS)
_STATE = {"recording": False, "seq": 0}
#: access key id -> function name, registered by the local-process executor
FUNCTION_KEYS: dict[str, str] = {}
#: access key id -> "role/<name>" of the role AssumeRole handed it out for
ROLE_KEYS: dict[str, str] = {}


def _remember_role(context) -> None:
    """Credentials handed out by AssumeRole sign later requests: remember whose they are (Step
    Functions' service integrations call AWS with the state machine role's credentials)."""
    response = context.service_response or {}
    key = (response.get("Credentials") or {}).get("AccessKeyId")
    role_arn = (context.service_request or {}).get("RoleArn") or ""
    if key and role_arn:
        ROLE_KEYS[key] = "role/" + role_arn.rsplit("/", 1)[-1]


def register_function_credentials(key_id: str | None, function_name: str | None) -> None:
    if key_id and function_name:
        FUNCTION_KEYS[key_id] = function_name


def _stamp(chain, context, response) -> None:
    if _STATE["recording"]:
        context._sqscb_started = time.time()
        if context.request.path.endswith("/invocations"):  # Lambda Invoke
            # read (and cache) the payload before the provider consumes its stream; the
            # parser's stream reads the cached body
            context._sqscb_payload = context.request.data


def _record(chain, context, response) -> None:
    started = getattr(context, "_sqscb_started", None)
    if started is None or not _STATE["recording"] or context.operation is None:
        return
    params = context.internal_request_params
    service = context.service.service_name if context.service else None
    operation = context.operation.name
    function = records = error = None
    if service == "lambda" and operation == "Invoke":
        request = context.service_request or {}
        function = request.get("FunctionName")
        records = payload_records(getattr(context, "_sqscb_payload", None))
        error = response.headers.get("X-Amz-Function-Error")
    # internal requests are signed too: Step Functions' integrations with the state machine
    # role's credentials, a mapping's polls with the function role's
    key = access_key(context.request.headers.get("Authorization"))
    caller = FUNCTION_KEYS.get(key) or ROLE_KEYS.get(key)
    if service == "sts" and operation == "AssumeRole":
        _remember_role(context)
    row = [
        0,
        round(started, 4),
        round(time.time(), 4),
        service,
        operation,
        response.status_code,
        None if params is None else params.get("service_principal") or "internal",
        (params or {}).get("source_arn"),
        caller,
        function,
        records,
        error,
    ]
    with _LOCK:
        _STATE["seq"] += 1
        row[0] = _STATE["seq"]
        _RECORDS.append(row)


def _settings() -> dict[str, Any]:
    """The harness settings a measurement depends on."""
    from localstack import config

    from localstack_harness.esm import configured_sqs_pollers

    return {
        "sqs_esm_pollers": configured_sqs_pollers(),
        "esm_poll_interval_seconds": config.LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC,
        "esm_max_backoff_on_empty_poll_seconds": (
            config.LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC
        ),
    }


class RequestsResource:
    def on_get(self, request):
        after = int(request.args.get("after", 0))
        with _LOCK:
            rows = [r for r in _RECORDS if r[0] > after]
        return {
            "recording": _STATE["recording"],
            "settings": _settings(),
            "fields": FIELDS,
            "seq": _STATE["seq"],  # the last record's number
            "next": rows[-1][0] if rows else after,
            "records": rows,
        }

    def on_post(self, request):
        body = request.get_json(force=True, silent=True) or {}
        _STATE["recording"] = bool(body.get("recording"))
        LOG.info("request recorder %s", "on" if _STATE["recording"] else "off")
        return {"recording": _STATE["recording"]}

    def on_delete(self, request):
        with _LOCK:
            _RECORDS.clear()
        return {"recording": _STATE["recording"]}


def _install() -> None:
    from localstack.aws.app import LocalstackAwsGateway
    from localstack.http import Resource
    from localstack.services.internal import get_internal_apis

    original_init = LocalstackAwsGateway.__init__
    if getattr(original_init, "_sqscb_patched", False):
        return

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.request_handlers.insert(0, _stamp)
        self.finalizers.append(_record)

    __init__._sqscb_patched = True
    LocalstackAwsGateway.__init__ = __init__
    get_internal_apis().add(Resource(PATH, RequestsResource()))


@hooks.on_infra_start()
def install_request_recorder() -> None:
    _install()
    LOG.info("request recorder installed (off): %s", PATH)
