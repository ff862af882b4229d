"""Step Functions fidelity for community LocalStack (loaded as an `on_infra_start` hook).

StopExecution. On AWS a stopped execution is ABORTED at once: DescribeExecution and
ListExecutions say so, and the "Step Functions Execution Status Change" event (status ABORTED) is
published right away, even while a task is in progress (its result is discarded). LocalStack only
flags the execution and lets the task (and any retry back-off, up to a minute) run to its end
before it reports ABORTED and publishes the event: an operator's view and the breaker's
execution-status rule (notification, rejitter cleanup) lag behind. Here the execution is reported
ABORTED and the event published when StopExecution returns; LocalStack's own event at the end of
the run is not published a second time.

JSONPath speed. LocalStack parsed every JSONPath anew (ply's yacc: about 8 ms a path, so 25,000
history events took over three minutes); parsed paths are cached here.

JSONPath results. AWS evaluates paths with Jayway JsonPath: an indefinite path (wildcard, slice,
union, filter, deep scan) yields an array of its matches, even of a single match. LocalStack
unwraps a single match unless the path ends with the wildcard: `$.Executions[*].ExecutionArn`
over one execution gave a string, not a one-element array, so a definition that is correct on
AWS (`States.ArrayContains` on that list) failed here, and only when one execution ran. Here an
indefinite path always yields an array, as on AWS; definite paths are left to LocalStack.

History quota. AWS fails a STANDARD execution whose history reaches 25,000 events: event 25,000
is ExecutionFailed (States.Runtime, "The execution reached the maximum number of history events
(25000).") unless it is ExecutionSucceeded; nothing else runs, DescribeExecution says FAILED and
the status-change event is published. No Catch sees it. LocalStack let histories grow without
end. Here the quota is enforced, with AWS's event, status, error and cause. A test may lower it
for one state machine (POST /_localstack/harness/sfn), or fast-forward its executions' histories
(historyEventsUsed N: the first event is N + 1, as if N events were already recorded; the quota
and GetExecutionHistory count them), so that a test reaches the quota's neighbourhood in a few
hundred events instead of 25,000.

GetExecutionHistory pages. AWS returns at most maxResults events (default 100, at most 1000) with
a nextToken; LocalStack returned every event at once, so a caller that reads one page on AWS saw
them all here. Here pages are served as AWS serves them (reverseOrder included).

Timestamps. Choice rules compare RFC 3339 timestamps, fractions of a second and offsets
included; LocalStack parsed whole seconds with Z only (a fraction made the rule false or the
execution fail). $$.State.EnteredTime and the timestamps in AWS SDK integration results are
written as Step Functions writes them (2019-03-26T20:14:13.192Z); LocalStack wrote
`datetime.isoformat()` in the context object and left SDK results as datetime objects.

ListExecutions, eventually consistent (opt-in, per state machine). AWS documents ListExecutions
as eventually consistent: a test may ask for a view that lags N seconds (new executions not yet
listed, ended ones still RUNNING) to show that nothing depends on it. DescribeExecution stays
current.
"""

from __future__ import annotations

import datetime
import functools
import logging
import os
import sys
import threading

from localstack.runtime import hooks

from localstack_harness.sfn_logic import (
    HISTORY_LIMIT_ERROR,
    MAX_HISTORY_EVENTS,
    aws_sdk_error_service,
    history_limit_cause,
    history_limit_reached,
    history_page,
    is_definite_path,
    listed_as,
    parse_timestamp,
    sfn_timestamp,
    timestamps_to_strings,
)

LOG = logging.getLogger("localstack_harness.sfn")


def _install_immediate_stop() -> None:
    from localstack.aws.api.stepfunctions import ExecutionStatus
    from localstack.services.stepfunctions.backend import execution as module

    original_stop = module.Execution.stop
    if getattr(original_stop, "_sqscb_patched", False):
        return
    original_terminated = module.BaseExecutionWorkerCommunication.terminated

    def stop(self, stop_date, error, cause):
        original_stop(self, stop_date=stop_date, error=error, cause=cause)
        if self.exec_status != ExecutionStatus.RUNNING:
            return  # already ended: nothing to report
        self.exec_status = ExecutionStatus.ABORTED
        self.stop_date = stop_date
        self.error, self.cause = error, cause
        self._sqscb_aborted_published = True
        self.publish_execution_status_change_event()
        LOG.info("execution %s ABORTED (StopExecution)", self.exec_arn)

    def terminated(self):
        execution = self.execution
        if getattr(execution, "_sqscb_aborted_published", False):
            # The run has wound down after StopExecution: keep the ABORTED already reported.
            stop_date, error, cause = execution.stop_date, execution.error, execution.cause
            self._reflect_execution_status()
            execution.exec_status = ExecutionStatus.ABORTED
            execution.stop_date, execution.error, execution.cause = stop_date, error, cause
            return
        original_terminated(self)

    stop._sqscb_patched = True
    module.Execution.stop = stop
    module.BaseExecutionWorkerCommunication.terminated = terminated


def _install_jsonpath_arrays() -> None:
    from localstack.services.stepfunctions.asl.component.common.path import result_path
    from localstack.services.stepfunctions.asl.utils import json_path as module

    original = module.extract_json
    if getattr(original, "_sqscb_patched", False):
        return
    # Speed, not fidelity: LocalStack builds a new JSONPath parser (ply's yacc) for every path
    # it evaluates, about 8 ms each: an episode's states evaluate hundreds. Parsed paths are
    # immutable, so they are cached.
    module.parse = functools.lru_cache(maxsize=4096)(module.parse)
    result_path.parse = functools.lru_cache(maxsize=4096)(result_path.parse)

    def extract_json(path, data):
        if is_definite_path(path):
            return original(path, data)
        return [match.value for match in module.parse(path).find(data)]

    extract_json._sqscb_patched = True
    module.extract_json = extract_json
    # Modules that imported the function by name before this hook ran hold the original.
    for name, loaded in list(sys.modules.items()):
        if name.startswith("localstack.services.stepfunctions") and (
            getattr(loaded, "extract_json", None) is original
        ):
            loaded.extract_json = extract_json


PATH = "/_localstack/harness/sfn"
# Per state machine ARN: {"maxHistoryEvents": int, "historyEventsUsed": int,
# "listExecutionsLagSeconds": float}.
_SETTINGS: dict[str, dict] = {}


def _default_max_events() -> int:
    return int(os.environ.get("HARNESS_SFN_MAX_HISTORY_EVENTS") or MAX_HISTORY_EVENTS)


def _setting(state_machine_arn: str | None, key: str, default):
    return _SETTINGS.get(state_machine_arn or "", {}).get(key, default)


class _Quota:
    """The history quota of one running execution."""

    def __init__(self, limit: int, execution, env) -> None:
        self.limit, self.execution, self.env = limit, execution, env
        self.lock = threading.Lock()
        self.closed = False


def _install_history_quota() -> None:
    from localstack.aws.api.stepfunctions import (
        ExecutionFailedEventDetails,
        ExecutionStatus,
        HistoryEventType,
        StateMachineType,
    )
    from localstack.services.stepfunctions.asl.eval.event import event_manager as events
    from localstack.services.stepfunctions.asl.eval.event.event_detail import EventDetails
    from localstack.services.stepfunctions.backend import execution as execution_module
    from localstack.services.stepfunctions.backend import execution_worker as worker

    original_add = events.EventManager.add_event
    if getattr(original_add, "_sqscb_patched", False):
        return
    original_env = worker.ExecutionWorker._get_evaluation_environment
    original_terminated = execution_module.BaseExecutionWorkerCommunication.terminated

    def _get_evaluation_environment(self):
        env = original_env(self)
        execution = getattr(self._execution_communication, "execution", None)
        if execution is not None and execution.sm_type == StateMachineType.STANDARD:
            limit = _setting(execution.state_machine_arn, "maxHistoryEvents", None)
            env.event_manager._sqscb_quota = _Quota(limit or _default_max_events(), execution, env)
            used = _setting(execution.state_machine_arn, "historyEventsUsed", 0)
            if used:  # fast-forward: the first event (ExecutionStarted) is used + 1
                env.event_manager._event_id_gen._next_id = used + 1
        return env

    def add_event(  # noqa: PLR0917 (EventManager.add_event's signature)
        self, context, event_type, event_details=None, timestamp=None, update_source_event_id=True
    ):
        quota = getattr(self, "_sqscb_quota", None)
        if quota is None:
            return original_add(
                self, context, event_type, event_details, timestamp, update_source_event_id
            )
        fail = False
        with quota.lock:
            if quota.closed:
                return context.last_published_event_id  # the history is full: nothing is added
            if history_limit_reached(self._event_id_gen._next_id, quota.limit):
                quota.closed = True
                if event_type != HistoryEventType.ExecutionSucceeded:
                    fail = True
                    event_type = HistoryEventType.ExecutionFailed
                    event_details = EventDetails(
                        executionFailedEventDetails=ExecutionFailedEventDetails(
                            error=HISTORY_LIMIT_ERROR, cause=history_limit_cause(quota.limit)
                        )
                    )
            event_id = original_add(
                self, context, event_type, event_details, timestamp, update_source_event_id
            )
        if fail:
            _fail_at_quota(quota)
        return event_id

    def _fail_at_quota(quota: _Quota) -> None:
        execution, cause = quota.execution, history_limit_cause(quota.limit)
        now = datetime.datetime.now(tz=datetime.UTC)
        # The same path as StopExecution: every frame stops, no further state runs.
        quota.env.set_stop(stop_date=now, cause=cause, error=HISTORY_LIMIT_ERROR)
        if execution.exec_status != ExecutionStatus.RUNNING:
            return
        execution.exec_status = ExecutionStatus.FAILED
        execution.stop_date = now
        execution.error, execution.cause = HISTORY_LIMIT_ERROR, cause
        execution._sqscb_quota_failed = True
        execution.publish_execution_status_change_event()
        LOG.info("execution %s FAILED: history quota (%d events)", execution.exec_arn, quota.limit)

    def terminated(self):
        if getattr(self.execution, "_sqscb_quota_failed", False):
            return  # FAILED, its stop date, error and cause are final; the event was published
        original_terminated(self)

    add_event._sqscb_patched = True
    events.EventManager.add_event = add_event
    worker.ExecutionWorker._get_evaluation_environment = _get_evaluation_environment
    execution_module.BaseExecutionWorkerCommunication.terminated = terminated


def _install_history_paging() -> None:
    from localstack.aws.api import CommonServiceException
    from localstack.services.stepfunctions.provider import StepFunctionsProvider

    original = StepFunctionsProvider.get_execution_history
    if getattr(original, "_sqscb_patched", False):
        return

    def get_execution_history(  # noqa: PLR0917 (the provider's signature)
        self,
        context,
        execution_arn,
        max_results=None,
        reverse_order=None,
        next_token=None,
        include_execution_data=None,
        **kwargs,
    ):
        history = original(
            self, context, execution_arn, include_execution_data=include_execution_data
        )
        events = history.get("events") or []
        try:
            page, token = history_page(events, max_results, bool(reverse_order), next_token)
        except ValueError as exc:
            raise CommonServiceException("InvalidToken", str(exc), status_code=400) from exc
        history["events"] = page
        if token:
            history["nextToken"] = token
        else:
            history.pop("nextToken", None)
        return history

    get_execution_history._sqscb_patched = True
    StepFunctionsProvider.get_execution_history = get_execution_history


def _install_timestamps() -> None:
    from localstack.services.stepfunctions.asl.component.state import state as state_module
    from localstack.services.stepfunctions.asl.component.state.state_choice.comparison.operator.implementations.is_operator import (  # noqa: E501
        IsTimestamp,
    )
    from localstack.services.stepfunctions.asl.component.state.state_execution.state_task.service.state_task_service_aws_sdk import (  # noqa: E501
        StateTaskServiceAwsSdk,
    )

    if getattr(IsTimestamp.string_to_timestamp, "_sqscb_patched", False):
        return

    def string_to_timestamp(string):
        return parse_timestamp(string)

    string_to_timestamp._sqscb_patched = True
    IsTimestamp.string_to_timestamp = staticmethod(string_to_timestamp)

    original_state_data = state_module.StateData

    def state_data(EnteredTime, Name):
        entered = parse_timestamp(EnteredTime)
        return original_state_data(
            EnteredTime=sfn_timestamp(entered) if entered else EnteredTime, Name=Name
        )

    state_module.StateData = state_data

    original_eval = StateTaskServiceAwsSdk._eval_service_task

    def _eval_service_task(self, env, *args, **kwargs):
        original_eval(self, env, *args, **kwargs)
        env.stack.append(timestamps_to_strings(env.stack.pop()))

    StateTaskServiceAwsSdk._eval_service_task = _eval_service_task


def _install_sdk_error_names() -> None:
    """AWS SDK integrations' errors named as on AWS (sfn_logic.aws_sdk_error_service)."""
    from localstack.services.stepfunctions.asl.component.state.state_execution.state_task.service import (  # noqa: E501
        state_task_service_aws_sdk as module,
    )

    original = module.StateTaskServiceAwsSdk._normalise_service_error_name
    if getattr(original, "_sqscb_patched", False):
        return

    def _normalise_service_error_name(service_name: str) -> str:
        found = original(service_name)  # LocalStack's: the service ID without spaces
        try:
            from localstack.aws.spec import get_service_catalog

            model = get_service_catalog().get(service_name)
        except Exception:
            model = None
        return aws_sdk_error_service(model.service_id if model is not None else found)

    _normalise_service_error_name._sqscb_patched = True
    module.StateTaskServiceAwsSdk._normalise_service_error_name = staticmethod(
        _normalise_service_error_name
    )


def _install_dynamodb_error_names() -> None:
    """The optimized DynamoDB integration's errors named as on AWS: DynamoDB.<the AWS SDK for
    Java exception class>, which always ends in Exception (DynamoDB.InternalServerError-
    Exception, DynamoDB.RequestLimitExceededException); LocalStack used the bare error code."""
    from localstack.services.stepfunctions.asl.component.state.state_execution.state_task.service import (  # noqa: E501
        state_task_service_dynamodb as module,
    )

    cls = module.StateTaskServiceDynamoDB
    original = cls._error_cause_from_client_error
    if getattr(original, "_sqscb_patched", False):
        return

    def _error_cause_from_client_error(client_error):
        error, cause = original(client_error)
        return (error if error.endswith("Exception") else f"{error}Exception"), cause

    _error_cause_from_client_error._sqscb_patched = True
    cls._error_cause_from_client_error = staticmethod(_error_cause_from_client_error)


def _install_lagging_list() -> None:
    from localstack.services.stepfunctions.backend.execution import Execution
    from localstack.services.stepfunctions.provider import StepFunctionsProvider

    original_item = Execution.to_execution_list_item
    if getattr(original_item, "_sqscb_patched", False):
        return
    original_filter = StepFunctionsProvider._list_execution_filter

    def _view(execution):
        lag = _setting(execution.state_machine_arn, "listExecutionsLagSeconds", 0)
        if not lag:
            return str(execution.exec_status), execution.stop_date
        return listed_as(
            str(execution.exec_status),
            execution.start_date,
            execution.stop_date,
            datetime.datetime.now(tz=datetime.UTC),
            lag,
        )

    def to_execution_list_item(self):
        item = original_item(self)
        view = _view(self)
        if view is not None:
            item["status"] = view[0]
            if view[1] is None:
                item.pop("stopDate", None)
        return item

    def _list_execution_filter(execution, state_machine_arn, status_filter):
        view = _view(execution)
        if view is None or not original_filter(
            execution, state_machine_arn=state_machine_arn, status_filter=None
        ):
            return False
        return not status_filter or view[0] == status_filter

    to_execution_list_item._sqscb_patched = True
    Execution.to_execution_list_item = to_execution_list_item
    StepFunctionsProvider._list_execution_filter = staticmethod(_list_execution_filter)


class SettingsResource:
    """GET: the settings; POST {"stateMachineArn", "maxHistoryEvents"?, "historyEventsUsed"?,
    "listExecutionsLagSeconds"?}: set them for one state machine (null removes one);
    DELETE {"stateMachineArn"}: back to AWS's behaviour for it."""

    def on_get(self, request):
        return {"defaultMaxHistoryEvents": _default_max_events(), "stateMachines": _SETTINGS}

    def on_post(self, request):
        body = request.get_json(force=True, silent=True) or {}
        arn = body.get("stateMachineArn")
        if not isinstance(arn, str) or not arn:
            return {"error": "stateMachineArn is required"}
        settings = _SETTINGS.setdefault(arn, {})
        for key in ("maxHistoryEvents", "historyEventsUsed", "listExecutionsLagSeconds"):
            if key in body:
                if body[key] is None:
                    settings.pop(key, None)
                else:
                    settings[key] = body[key]
        LOG.info("step functions settings for %s: %s", arn, settings)
        return {"stateMachineArn": arn, "settings": settings}

    def on_delete(self, request):
        body = request.get_json(force=True, silent=True) or {}
        _SETTINGS.pop(body.get("stateMachineArn") or "", None)
        return {"stateMachines": _SETTINGS}


def _install_settings_endpoint() -> None:
    from localstack.http import Resource
    from localstack.services.internal import get_internal_apis

    if getattr(_install_settings_endpoint, "_done", False):
        return
    get_internal_apis().add(Resource(PATH, SettingsResource()))
    _install_settings_endpoint._done = True


@hooks.on_infra_start()
def install_sfn_fidelity() -> None:
    _install_immediate_stop()
    _install_jsonpath_arrays()
    _install_history_quota()
    _install_history_paging()
    _install_timestamps()
    _install_sdk_error_names()
    _install_dynamodb_error_names()
    _install_lagging_list()
    _install_settings_endpoint()
    LOG.info(
        "step functions fidelity installed: StopExecution aborts at once, indefinite JSONPaths"
        " yield arrays, history quota (%d events), history pages, RFC 3339 timestamps, AWS SDK"
        " error names,"
        " ListExecutions lag on request (%s)",
        _default_max_events(),
        PATH,
    )
