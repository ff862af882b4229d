"""IAM enforcement for community LocalStack (loaded as an `on_infra_start` hook).

LocalStack's open-source runtime accepts every call: a missing action, a resource ARN in the wrong
format, a condition key a service never sends or a resource policy that shuts a service out pass
every test and fail on AWS. Here every request made by an IAM role that exists in the emulator
(the module's roles, the examples', the CLI's operator), and every delivery a service makes as its
service principal, is evaluated as AWS evaluates it before it is served:

- a role's request (signed with keys from sts:AssumeRole: Lambda execution environments, Step
  Functions' integrations, EventBridge targets with a role, event source mapping pollers, the CLI's
  operator): its identity policies (inline and attached), its permissions boundary, and the
  resource policy of an SQS queue or SNS topic it calls;
- a service principal's delivery: CloudWatch alarm actions and EventBridge targets publishing to a
  topic or sending to a queue (the resource policy, with aws:SourceArn and aws:SourceAccount), and a
  service assuming a role (the trust policy: lambda, states and events, with aws:SourceAccount and,
  for Step Functions and EventBridge, the aws:SourceArn of the state machines or rules that use the
  role: LocalStack does not pass it, so every user of the role is checked).

The evaluator is @cloud-copilot/iam-simulate, a maintained implementation of AWS's policy
evaluation (identity, resource and boundary policies, every condition operator), run as a separate
Node.js process (tests/iam/evaluator: AGPL, a test tool only). The action and resource ARN of each
operation come from iam_logic.py.

Modes (HARNESS_IAM_ENFORCE): `strict` (default) refuses a denied request with AWS's AccessDenied
error for that service; `report` serves it and records the denial; `off` evaluates nothing. Every
decision is kept: GET /_localstack/harness/iam?after=SEQ returns the denials since SEQ and the
allowed (principal, action, resource) usage, which the tests check after each test and the
least-privilege report reads (scripts/iam_report.py).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

from localstack.runtime import hooks

from localstack_harness.iam_logic import (
    Authorization,
    UnmappedOperation,
    authorizations,
    denial_message,
    policy_document,
    role_name_of,
)

LOG = logging.getLogger("localstack_harness.iam")
PATH = "/_localstack/harness/iam"
MODE = os.environ.get("HARNESS_IAM_ENFORCE", "strict").strip().lower() or "strict"
EVALUATOR = os.environ.get("HARNESS_IAM_EVALUATOR", "")

# AWS's access-denied error of each service: (code, HTTP status). SQS's JSON protocol reports
# AccessDenied through x-amzn-query-error (query-compatible), the others their own code.
DENIED_ERRORS: dict[str, tuple[str, int]] = {
    "sqs": ("AccessDenied", 403),
    "lambda": ("AccessDeniedException", 403),
    "stepfunctions": ("AccessDeniedException", 400),
    "dynamodb": ("AccessDeniedException", 400),
    "ssm": ("AccessDeniedException", 400),
    "events": ("AccessDeniedException", 400),
    "logs": ("AccessDeniedException", 400),
    "xray": ("AccessDeniedException", 403),
    "kms": ("AccessDeniedException", 400),
    "sns": ("AuthorizationError", 403),
    "cloudwatch": ("AccessDenied", 403),
    "sts": ("AccessDenied", 403),
}
# Deliveries by a service principal that AWS authorises with the target's resource policy.
RESOURCE_POLICY_DELIVERIES = frozenset({"sns:Publish", "sqs:SendMessage"})
# The services whose requests a harness component makes for itself (not a service's delivery).
_LOCK = threading.Lock()
# roles: the policies of every role whose calls were evaluated, as last seen (a stack destroyed
# before the report is written still has its grants reported)
_STATE: dict[str, Any] = {"seq": 0, "denials": [], "usage": {}, "checked": 0, "roles": {}}
MAX_DENIALS = 10_000


class Evaluator:
    """The Node.js evaluator process: one JSON line in, one out. Decisions are cached (the
    breaker repeats the same calls with the same policies)."""

    def __init__(self, script: str) -> None:
        self.script = script
        self.lock = threading.Lock()
        self.process: subprocess.Popen | None = None
        self.cache: dict[str, dict] = {}

    def _start(self) -> subprocess.Popen:
        if not self.script or not Path(self.script).is_file():
            raise RuntimeError(
                f"IAM evaluator not installed ({self.script or 'HARNESS_IAM_EVALUATOR unset'}):"
                " make localstack-install installs it (tests/iam/evaluator)"
            )
        return subprocess.Popen(
            ["node", self.script],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            env={**os.environ, "IAM_EVAL_AUTO_CONTEXT": "1"},
        )

    def evaluate(self, request: dict) -> dict:
        key = json.dumps(request, sort_keys=True)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        with self.lock:
            if self.process is None or self.process.poll() is not None:
                self.process = self._start()
            self.process.stdin.write(key + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the IAM evaluator process ended")
        result = json.loads(line)
        if len(self.cache) > 50_000:
            self.cache.clear()
        self.cache[key] = result
        return result


_EVALUATOR = Evaluator(EVALUATOR)


# ---- the emulator's IAM and resource data ------------------------------------------------------
def _iam_store(account: str):
    from localstack.services.iam.models import iam_stores

    return iam_stores[account]["us-east-1"]


def _managed_policy(store, arn: str) -> dict | None:
    entity = store.MANAGED_POLICIES.get(arn)
    if entity is not None:
        version = entity.policy.get("DefaultVersionId")
        return policy_document((entity.versions.get(version) or {}).get("Document"))
    return _aws_managed_policies().get(arn)


_AWS_MANAGED: dict[str, dict] = {}


def _aws_managed_policies() -> dict[str, dict]:
    if not _AWS_MANAGED:
        import localstack.services.iam as iam_package

        path = Path(iam_package.__file__).parent / "resources" / "aws_managed_policies.json"
        if path.is_file():
            for name, data in json.loads(path.read_text()).items():
                arn = data.get("Arn") or f"arn:aws:iam::aws:policy/{name}"
                document = data.get("Document") or data.get("document")
                if document:
                    _AWS_MANAGED[arn] = policy_document(document)
    return _AWS_MANAGED


def role_policies(account: str, role_name: str) -> dict | None:
    """{arn, trust, identity: [docs], boundary: doc | None} of a role, or None if no such role."""
    store = _iam_store(account)
    entity = store.ROLES.get(role_name)
    if entity is None:
        return None
    identity = [policy_document(doc) for doc in entity.inline_policies.values()]
    identity += [d for d in (_managed_policy(store, a) for a in entity.attached_policy_arns) if d]
    boundary_arn = (entity.role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
    boundary = _managed_policy(store, boundary_arn) if boundary_arn else None
    return {
        "arn": entity.role["Arn"],
        "trust": policy_document(entity.role.get("AssumeRolePolicyDocument")),
        "identity": identity,
        "boundary": boundary,
        "boundary_arn": boundary_arn,
    }


def assumed_role(access_key: str | None) -> tuple[str, str] | None:
    """(assumed-role ARN, account) of temporary credentials handed out by AssumeRole."""
    if not access_key:
        return None
    from localstack.services.sts.models import sts_stores

    for account_bundle in [sts_stores]:
        try:
            credentials = account_bundle["000000000000"]["us-east-1"].credentials
        except Exception:
            return None
        found = credentials.get(access_key)
        if found is not None:
            return found.arn, found.account_id
    return None


def resource_policy(resource: str) -> dict | None:
    """The resource policy of an SQS queue or SNS topic ARN, if it has one."""
    parts = resource.split(":")
    if len(parts) < 6 or not resource.startswith("arn:"):
        return None
    service, region, account, name = parts[2], parts[3], parts[4], parts[5]
    try:
        if service == "sqs":
            from localstack.services.sqs.models import sqs_stores

            queue = sqs_stores[account][region].queues.get(name)
            return policy_document((queue.attributes or {}).get("Policy")) if queue else None
        if service == "sns":
            from localstack.services.sns.models import sns_stores

            topic = sns_stores[account][region].topics.get(resource)
            return policy_document(((topic or {}).get("attributes") or {}).get("Policy"))
    except Exception:
        LOG.exception("could not read the resource policy of %s", resource)
    return None


def role_users(service_principal: str, role_arn: str, region: str, account: str) -> list[str]:
    """The ARNs of what makes a service assume this role: the state machines (states) or rules
    (events) that name it. LocalStack's AssumeRole carries no aws:SourceArn, AWS's does."""
    found: list[str] = []
    try:
        if service_principal == "states":
            from localstack.services.stepfunctions.backend.models import sfn_stores

            for arn, machine in sfn_stores[account][region].state_machines.items():
                if getattr(machine, "role_arn", None) == role_arn:
                    found.append(":".join(arn.split(":")[:7]))  # versions: the machine's ARN
        elif service_principal == "events":
            from localstack.services.events.models import events_stores

            store = events_stores[account][region]
            for bus in store.event_buses.values():
                for rule in bus.rules.values():
                    if any(t.get("RoleArn") == role_arn for t in rule.targets.values()):
                        found.append(rule.arn)
    except Exception:
        LOG.exception("could not find the users of role %s", role_arn)
    return sorted(set(found))


# ---- decisions ---------------------------------------------------------------------------------
def _record(principal: str, auth: Authorization, result: dict, kind: str, operation: str) -> dict:
    decision = result.get("decision", "ImplicitlyDenied")
    row = {
        "principal": principal,
        "action": auth.action,
        "resource": auth.resource,
        "operation": operation,
        "kind": kind,
        "decision": decision,
        "explanation": result.get("explanation", ""),
        "context": auth.context,
        "error": result.get("error"),
        "warnings": result.get("warnings"),
    }
    with _LOCK:
        _STATE["checked"] += 1
        if decision == "Allowed":
            key = f"{principal}|{auth.action}|{auth.resource}"
            _STATE["usage"][key] = _STATE["usage"].get(key, 0) + 1
        else:
            _STATE["seq"] += 1
            row["seq"] = _STATE["seq"]
            if len(_STATE["denials"]) < MAX_DENIALS:
                _STATE["denials"].append(row)
            LOG.warning(
                "IAM %s: %s %s on %s: %s",
                decision,
                principal,
                auth.action,
                auth.resource,
                row["explanation"],
            )
    return row


def _evaluate(
    request: dict, principal: str, auth: Authorization, kind: str, operation: str
) -> dict:
    try:
        result = _EVALUATOR.evaluate(request)
    except Exception as exc:
        result = {"decision": "ImplicitlyDenied", "explanation": f"evaluator failed: {exc}"}
    return _record(principal, auth, result, kind, operation)


def check_role_request(
    principal: str,
    role: dict,
    *,
    account: str,
    service: str,
    operation: str,
    request: dict,
    region: str,
) -> dict | None:
    """The first denial of a role's request, or None when every check allows it."""
    name = role_name_of(principal) or principal
    with _LOCK:
        _STATE["roles"][name] = {k: role[k] for k in ("arn", "identity", "boundary")}
    try:
        checks = authorizations(service, operation, request, region, account)
    except UnmappedOperation as exc:
        auth = Authorization(f"{service}:{operation}", "?")
        return _record(
            principal,
            auth,
            {"decision": "ImplicitlyDenied", "explanation": str(exc)},
            "role",
            operation,
        )
    for auth in checks:
        if auth.action == "logs:CreateLogGroup" and service == "logs":
            # LocalStack's Lambda log writer creates the function's log group when a stream is
            # missing, even when the group exists (Terraform created it); Lambda on AWS does not
            # need to. Not a call of the role's: not judged.
            continue
        document = resource_policy(auth.resource)  # a queue's or a topic's, when it has one
        evaluation = {
            "principal": principal,
            "action": auth.action,
            "resource": auth.resource,
            "identityPolicies": role["identity"],
            "permissionBoundaries": [role["boundary"]] if role["boundary"] else None,
            "resourcePolicy": document,
            "context": auth.context,
        }
        row = _evaluate(evaluation, principal, auth, "role", operation)
        if row["decision"] != "Allowed":
            return row
    return None


def check_service_delivery(
    service_principal: str,
    source_arn: str | None,
    *,
    account: str,
    service: str,
    operation: str,
    request: dict,
    region: str,
) -> dict | None:
    """The first denial of a service principal's delivery or role assumption, or None."""
    principal = f"{service_principal}.amazonaws.com"
    try:
        checks = authorizations(service, operation, request, region, account)
    except UnmappedOperation:
        return None  # a service's own bookkeeping call: not an IAM-authorised delivery
    for auth in checks:
        if auth.action == "sts:AssumeRole":
            role = role_policies(account, role_name_of(auth.resource) or "")
            if role is None:
                continue  # a role the emulator does not know (harness tests' fake roles)
            sources = (
                [source_arn]
                if source_arn
                else role_users(service_principal, role["arn"], region, account)
            )
            for source in sources or [None]:
                context = {"aws:SourceAccount": account}
                if source:
                    context["aws:SourceArn"] = source
                checked = Authorization(auth.action, role["arn"], context)
                evaluation = {
                    "principal": principal,
                    "action": auth.action,
                    "resource": role["arn"],
                    "identityPolicies": [],
                    "resourcePolicy": role["trust"],
                    "resourcePolicyType": "trust",
                    "context": context,
                }
                row = _evaluate(evaluation, principal, checked, "trust", operation)
                if row["decision"] != "Allowed":
                    return row
        elif auth.action in RESOURCE_POLICY_DELIVERIES:
            context = {"aws:SourceAccount": account}
            if source_arn:
                context["aws:SourceArn"] = source_arn
            checked = Authorization(auth.action, auth.resource, context)
            evaluation = {
                "principal": principal,
                "action": auth.action,
                "resource": auth.resource,
                "identityPolicies": [],
                "resourcePolicy": resource_policy(auth.resource),
                "context": context,
            }
            row = _evaluate(evaluation, principal, checked, "delivery", operation)
            if row["decision"] != "Allowed":
                return row
    return None


# ---- the gateway handler -----------------------------------------------------------------------
def _denied(service: str, row: dict) -> Exception:
    from localstack.aws.api import CommonServiceException

    code, status = DENIED_ERRORS.get(service, ("AccessDeniedException", 400))
    # The serializer names an error after its class when the service has no shape for it.
    error_class = type(code, (CommonServiceException,), {})
    message = denial_message(row["principal"], row["action"], row["resource"], row["explanation"])
    return error_class(code, message, status_code=status, sender_fault=True)


def enforce(chain, context, response) -> None:
    if MODE == "off" or context.operation is None or context.service is None:
        return
    from localstack_harness.recorder_logic import access_key

    service = context.service.service_name
    operation = context.operation.name
    request = dict(context.service_request or {})
    region = context.region or "us-east-1"
    key = access_key(context.request.headers.get("Authorization"))
    row = None
    assumed = assumed_role(key)
    if assumed is not None:
        principal, account = assumed
        role = role_policies(account, role_name_of(principal) or "")
        if role is None:
            return  # a role the emulator does not know (harness tests' fake roles)
        row = check_role_request(
            principal,
            role,
            account=account,
            service=service,
            operation=operation,
            request=request,
            region=region,
        )
    else:
        params = context.internal_request_params or {}
        service_principal = params.get("service_principal")
        if not service_principal:
            return  # the tests' own credentials: an administrator
        row = check_service_delivery(
            service_principal,
            params.get("source_arn"),
            account=context.account_id or "000000000000",
            service=service,
            operation=operation,
            request=request,
            region=region,
        )
    if row is not None and MODE == "strict":
        raise _denied(service, row)


class DecisionsResource:
    """GET ?after=SEQ[&roles=1]: {"mode", "seq", "checked", "denials" (after SEQ), "usage",
    "roles" (with roles=1: every role's policies)}; POST {"acknowledge": [seq]}: denials a test
    claimed; DELETE: forget them."""

    def on_get(self, request):
        after = int(request.args.get("after", 0))
        roles = {}
        if request.args.get("roles"):  # ?roles=1: the roles' policies (the report's grants)
            with _LOCK:
                roles.update(_STATE["roles"])
            account = request.args.get("account", "000000000000")
            for name in list(_iam_store(account).ROLES):
                found = role_policies(account, name)
                if found:
                    roles[name] = {k: found[k] for k in ("arn", "identity", "boundary")}
        with _LOCK:
            return {
                "roles": roles,
                "mode": MODE,
                "evaluator": EVALUATOR,
                "seq": _STATE["seq"],
                "checked": _STATE["checked"],
                "denials": [d for d in _STATE["denials"] if d["seq"] > after],
                "usage": [
                    dict(zip(("principal", "action", "resource"), k.split("|", 2), strict=True))
                    | {"count": n}
                    for k, n in _STATE["usage"].items()
                ],
            }

    def on_post(self, request):
        """{"acknowledge": [seq, ...]}: denials a test has claimed (checked or expected)."""
        body = request.get_json(force=True, silent=True) or {}
        seqs = set(body.get("acknowledge") or [])
        with _LOCK:
            for denial in _STATE["denials"]:
                if denial["seq"] in seqs:
                    denial["acknowledged"] = True
        return {"acknowledged": len(seqs)}

    def on_delete(self, request):
        with _LOCK:
            _STATE["denials"].clear()
            _STATE["usage"].clear()
            _STATE["roles"].clear()
        return {"mode": MODE}


class _AlarmActionSns:
    """An SNS client that publishes an alarm action as CloudWatch does: as the service principal
    cloudwatch.amazonaws.com, for the alarm (aws:SourceArn). LocalStack published with the
    account's own credentials, so a topic policy without the service principal went unnoticed."""

    def __init__(self, client, account: str) -> None:
        self.client, self.account = client, account

    def publish(self, **kwargs):
        # Subject: '<STATE>: "<alarm name>" in <region>' (LocalStack's, as on AWS)
        subject = str(kwargs.get("Subject", ""))
        name = subject.split('"')[1] if subject.count('"') >= 2 else ""
        region = subject.rsplit(" in ", 1)[-1] if " in " in subject else ""
        source = f"arn:aws:cloudwatch:{region}:{self.account}:alarm:{name}"
        client = self.client.request_metadata(service_principal="cloudwatch", source_arn=source)
        try:
            return client.publish(**kwargs)
        except Exception as exc:  # as on AWS: a failed alarm action fails nothing else
            LOG.warning(
                "alarm action of %s could not publish to %s: %s", name, kwargs.get("TopicArn"), exc
            )
            return {}

    def __getattr__(self, name):
        return getattr(self.client, name)


class _AlarmActionClients:
    def __init__(self, factory, account: str) -> None:
        self.factory, self.account = factory, account

    @property
    def sns(self):
        return _AlarmActionSns(self.factory.sns, self.account)

    def __getattr__(self, name):
        return getattr(self.factory, name)


def _install_alarm_action_principal() -> None:
    from localstack.services.cloudwatch import provider_v2

    original = provider_v2.connect_to
    if getattr(original, "_sqscb_patched", False):
        return

    class _ConnectTo:
        _sqscb_patched = True

        def __call__(self, **kwargs):
            return _AlarmActionClients(original(**kwargs), kwargs.get("aws_access_key_id", ""))

        def __getattr__(self, name):
            return getattr(original, name)

    provider_v2.connect_to = _ConnectTo()


def _install() -> None:
    from localstack.aws import handlers
    from localstack.http import Resource
    from localstack.services.internal import get_internal_apis

    chain = handlers.serve_custom_service_request_handlers
    if getattr(chain, "_sqscb_iam", False):
        return
    chain.append(enforce)
    chain._sqscb_iam = True
    get_internal_apis().add(Resource(PATH, DecisionsResource()))


@hooks.on_infra_start()
def install_iam_enforcement() -> None:
    if MODE not in ("strict", "report", "off"):
        raise ValueError(f"HARNESS_IAM_ENFORCE must be strict, report or off, got {MODE!r}")
    _install()
    _install_alarm_action_principal()
    LOG.info("IAM enforcement installed: %s (evaluator %s)", MODE, EVALUATOR or "none")
