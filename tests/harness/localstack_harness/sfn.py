"""Step Functions fidelity for community LocalStack (loaded as an `on_infra_start` hook).

StopExecution. On AWS a stopped execution is ABORTED at once: DescribeExecution and
ListExecutions say so, and the "Step Functions Execution Status Change" event (status ABORTED) is
published right away, even while a task is in progress (its result is discarded). LocalStack only
flags the execution and lets the task (and any retry back-off, up to a minute) run to its end
before it reports ABORTED and publishes the event: an operator's view and the breaker's
execution-status rule (notification, rejitter cleanup) lag behind. Here the execution is reported
ABORTED and the event published when StopExecution returns; LocalStack's own event at the end of
the run is not published a second time.

JSONPath results. AWS evaluates paths with Jayway JsonPath: an indefinite path (wildcard, slice,
union, filter, deep scan) yields an array of its matches, even of a single match. LocalStack
unwraps a single match unless the path ends with the wildcard: `$.Executions[*].ExecutionArn`
over one execution gave a string, not a one-element array, so a definition that is correct on
AWS (`States.ArrayContains` on that list) failed here, and only when one execution ran. Here an
indefinite path always yields an array, as on AWS; definite paths are left to LocalStack.
"""

from __future__ import annotations

import logging
import sys

from localstack.runtime import hooks

from localstack_harness.sfn_logic import is_definite_path

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
    from localstack.services.stepfunctions.asl.utils import json_path as module

    original = module.extract_json
    if getattr(original, "_sqscb_patched", False):
        return

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


@hooks.on_infra_start()
def install_sfn_fidelity() -> None:
    _install_immediate_stop()
    _install_jsonpath_arrays()
    LOG.info(
        "step functions fidelity installed: StopExecution aborts at once,"
        " indefinite JSONPaths yield arrays"
    )
