"""Fault injection for community LocalStack (loaded as an `on_infra_start` hook).

The emulator never fails a call of ours; AWS does: throttling, 5xx, a mapping that is updating, a
disabled KMS key, an expired credential, a slow answer that runs a Lambda out of time. A test says
which calls fail (faults_logic.py: service, operation, the caller's identity glob, the Nth call or
every call or a time window) and with which error; the gateway then answers those calls with AWS's
error for that service: the modeled exception of the service where it has one (so the protocol's
shape, query-compatible codes included, is the serializer's, as botocore parses AWS's), else the
common error with AWS's HTTP status.

Every path the breaker uses passes the gateway, so every path can fail: the Lambdas' SDK calls
(signed with their execution role's credentials), Step Functions' SDK and optimized integrations
(the state machine role's), EventBridge targets (the target role's, or `service/events`) and
CloudWatch alarm actions (`service/cloudwatch`).

    POST   /_localstack/harness/faults  {rule}        -> {"id": N, ...}    (400: what is wrong)
    GET    /_localstack/harness/faults                -> {"rules": [...], "seen": [...]}
    DELETE /_localstack/harness/faults[?id=N]         (remove one rule, or all of them)
    DELETE /_localstack/harness/faults?seen=1         (forget the calls seen)

`seen` counts every call by (identity, service, operation) since it was last cleared: the fault
matrix is derived from it (the calls a seed episode makes), not listed by hand.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter

from localstack.runtime import hooks

from localstack_harness.faults_logic import (
    Rule,
    RuleError,
    decide,
    identity_of,
    matches,
    parse_rule,
)

LOG = logging.getLogger("localstack_harness.faults")
PATH = "/_localstack/harness/faults"
# localstack.aws.api module of each service (where its modeled exceptions are)
API_MODULES = {"lambda": "lambda_", "stepfunctions": "stepfunctions", "cloudwatch": "cloudwatch"}

_LOCK = threading.Lock()
_RULES: list[Rule] = []
_SEEN: Counter[tuple[str, str, str]] = Counter()
_STATE = {"next_id": 0}


def _identity(context) -> str:
    from localstack_harness.iam import assumed_role
    from localstack_harness.recorder_logic import access_key

    assumed = assumed_role(access_key(context.request.headers.get("Authorization")))
    params = context.internal_request_params or {}
    return identity_of(assumed[0] if assumed else None, params.get("service_principal"))


def _exception(service: str, rule: Rule) -> Exception:
    """AWS's error: the service's modeled exception where one has this code, else a common one."""
    import importlib

    from localstack.aws.api import CommonServiceException, ServiceException

    try:
        module = importlib.import_module(f"localstack.aws.api.{API_MODULES.get(service, service)}")
        modeled = getattr(module, rule.code, None)
    except ImportError:
        modeled = None
    if isinstance(modeled, type) and issubclass(modeled, ServiceException):
        error = modeled(rule.message)
        error.status_code = rule.status
        return error
    error_class = type(rule.code, (CommonServiceException,), {})
    return error_class(rule.code, rule.message, status_code=rule.status, sender_fault=False)


def _request_text(context) -> str:
    try:
        return json.dumps(context.service_request or {}, default=str)
    except (TypeError, ValueError):
        return str(context.service_request)


def _matching(service: str, operation: str, identity: str, context) -> Rule | None:
    now = time.time()
    with _LOCK:
        _SEEN[(identity, service, operation)] += 1
        request = ""
        if any(r.target is not None and r.service == service for r in _RULES):
            request = _request_text(context)
        for rule in _RULES:
            if matches(rule, service, operation, identity, now, request) and decide(rule):
                rule.log.append({"at": round(now, 3), "identity": identity})
                del rule.log[:-50]
                return rule
    return None


def inject(chain, context, response) -> None:
    """Request handler: fail (or slow down, or partly fail) the call a rule names."""
    if context.operation is None or context.service is None:
        return
    service, operation = context.service.service_name, context.operation.name
    if not _RULES:
        with _LOCK:
            _SEEN[(_identity(context), service, operation)] += 1
        return
    identity = _identity(context)
    rule = _matching(service, operation, identity, context)
    if rule is None:
        return
    LOG.warning("fault %s: %s %s %s by %s", rule.id, rule.kind, service, operation, identity)
    if rule.kind == "delay":
        time.sleep(rule.seconds)
    elif rule.kind == "partial":
        entries = list((context.service_request or {}).get("Entries") or [])
        keep = max(0, len(entries) - rule.entries)
        context.service_request["Entries"] = entries[:keep]
        context._sqscb_failed_entries = (entries[keep:], rule)
        if not entries[:keep]:  # nothing left to send: answer here, every entry failed
            _answer_partial(context, response, {"Successful": [], "Failed": []})
            chain.stop()
    else:
        raise _exception(service, rule)


def _failed(entries: list[dict], rule: Rule) -> list[dict]:
    return [
        {"Id": e["Id"], "SenderFault": False, "Code": rule.code, "Message": rule.message}
        for e in entries
    ]


def _answer_partial(context, response, result: dict) -> None:
    from localstack.aws.protocol.serializer import create_serializer

    failed, rule = context._sqscb_failed_entries
    result = {**result, "Failed": list(result.get("Failed") or []) + _failed(failed, rule)}
    context.service_response = result
    context._sqscb_failed_entries = None
    serialized = create_serializer(context.service).serialize_to_response(
        result, context.operation, context.request.headers, context.request_id
    )
    response.update_from(serialized)


def complete_partial(chain, context, response) -> None:
    """Response handler (SQS): a partial fault's dropped entries are reported Failed, as AWS
    reports the entries of a batch it could not send (HTTP 200)."""
    found = getattr(context, "_sqscb_failed_entries", None)
    if found is None or context.service_exception is not None or context.service_response is None:
        return
    _answer_partial(context, response, dict(context.service_response))


class FaultsResource:
    def on_get(self, request):
        with _LOCK:
            return {
                "rules": [r.view() for r in _RULES],
                "seen": [
                    {"identity": i, "service": s, "operation": o, "count": n}
                    for (i, s, o), n in sorted(_SEEN.items())
                ],
            }

    def on_post(self, request):
        from localstack.http import Response

        spec = request.get_json(force=True, silent=True)
        with _LOCK:
            try:
                rule = parse_rule(spec, _STATE["next_id"] + 1)
            except RuleError as exc:
                return Response.for_json({"error": str(exc)}, status=400)
            _STATE["next_id"] = rule.id
            _RULES.append(rule)
        LOG.info("fault rule %s added: %s", rule.id, spec)
        return rule.view()

    def on_delete(self, request):
        with _LOCK:
            if request.args.get("seen"):
                _SEEN.clear()
                return {"seen": 0}
            wanted = request.args.get("id")
            before = len(_RULES)
            _RULES[:] = [r for r in _RULES if wanted is not None and str(r.id) != wanted]
            return {"removed": before - len(_RULES)}


def _install() -> None:
    from localstack.aws import handlers
    from localstack.http import Resource
    from localstack.services.internal import get_internal_apis

    chain = handlers.serve_custom_service_request_handlers
    if getattr(chain, "_sqscb_faults", False):
        return
    chain.append(inject)  # after the IAM check (iam.py): a denied call is denied, not faulted
    chain._sqscb_faults = True
    handlers.modify_service_response.append("sqs", complete_partial)
    get_internal_apis().add(Resource(PATH, FaultsResource()))


# after install_iam_enforcement (priority 0): a denied call is denied, not faulted
@hooks.on_infra_start(priority=-10)
def install_fault_injection() -> None:
    _install()
    LOG.info("fault injection installed: %s", PATH)
