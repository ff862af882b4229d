"""Event source mapping fidelity for community LocalStack (loaded as an `on_infra_start` hook).

1. Deletion completes. LocalStack removes a deleted mapping from its store only when the
   mapping's poller thread exits while the mapping is still marked enabled. A mapping that is
   disabled when it is deleted (the breaker's rejitter mapping always is; the protected mapping is
   while the circuit is open) has no poller thread, so it stays `Deleting` forever, and creating
   the same mapping again fails with ResourceConflictException. On AWS the deletion completes:
   here it completes once the poller thread (if any) has stopped, or after DELETE_GRACE_SECONDS.
2. The state of an updated mapping is its new worker's. LocalStack replaces a mapping's worker on
   every UpdateEventSourceMapping; the old worker, stopping, writes `Disabling` and then `Disabled`
   into the store when its last poll returns, possibly after the new worker has written `Enabled`:
   GetEventSourceMapping then says `Disabled` while the mapping delivers (seen after the breaker's
   half-open ramp: OpenHalfway, then CloseCircuit 2 s later). On AWS the state is the mapping's.
   Here a replaced worker no longer writes the mapping's state.
3. CreateEventSourceMapping refuses an SQS queue whose visibility timeout is shorter than the
   function's timeout, with AWS's error (InvalidParameterValueException "Queue visibility
   timeout: 30 seconds is less than Function timeout: 60 seconds"). AWS checks this on create
   only; an update of an existing mapping is not refused.
4. Concurrent SQS pollers, opt-in. LocalStack polls an SQS queue with one thread and invokes one
   batch at a time; AWS starts with five concurrent pollers, scales up from there, and honours
   ScalingConfig.MaximumConcurrency. With HARNESS_SQS_ESM_POLLERS=N (default 1: LocalStack's
   behaviour, which the tests use) a mapping polls with N threads, at most its MaximumConcurrency,
   so the concurrency of a mapping (and the breaker's half-open ramp) can be measured (`make
   bench` sets 5). There is no scaling beyond N.
5. SQS bodies as sent, and Lambda's body-format rule for filters. LocalStack parsed every JSON
   body to filter it and wrote it back with json.dumps before invoking the function: the function
   got `{"a": 1}` for `{"a":1}` and `100.0` for `1e2`, whether or not the mapping had filters. AWS
   delivers the body as sent. And Lambda drops a plain-string body when a filter pattern is for
   JSON properties (and a JSON body when the pattern is a plain string); LocalStack matched such
   bodies anyway (a pattern of {"exists": false} admitted any plain string). Here the body is
   delivered as received and the format rule applies before the pattern.
6. Event source mapping metrics. A mapping whose MetricsConfig holds EventCount publishes, on AWS,
   PolledEventCount, InvokedEventCount, FailedInvokeEventCount (and more) in AWS/Lambda with the
   dimension EventSourceMappingUUID, once a minute; LocalStack publishes none. Here an SQS
   mapping publishes those three, at 1-minute resolution (`esm_logic.invoke_event_counts` says
   how a partial batch failure is counted).
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from localstack.runtime import hooks

from localstack_harness.esm_logic import (
    body_format_admits,
    emits_event_counts,
    invoke_event_counts,
    sqs_pollers,
    visibility_timeout_error,
)

LOG = logging.getLogger("localstack_harness.esm")
DELETE_GRACE_SECONDS = 15.0


def _install_complete_deletion() -> None:
    from localstack.services.lambda_.event_source_mapping.esm_worker import EsmWorker

    original = EsmWorker.delete
    if getattr(original, "_sqscb_patched", False):
        return

    def delete(self) -> None:
        original(self)
        poller = self._poller_thread

        def finish() -> None:
            if poller is not None and poller.is_alive():
                poller.join(DELETE_GRACE_SECONDS)
            # A no-op when the poller already removed it (pop with a default).
            self.delete_esm_in_store()
            LOG.info("event source mapping %s deleted", self.uuid)

        threading.Thread(target=finish, name=f"esm-delete-{self.uuid}", daemon=True).start()

    delete._sqscb_patched = True
    EsmWorker.delete = delete


def _install_superseded_workers_keep_quiet() -> None:
    from localstack.services.lambda_.event_source_mapping.esm_worker import EsmWorker
    from localstack.services.lambda_.provider import LambdaProvider

    original_update = LambdaProvider.update_event_source_mapping_v2
    if getattr(original_update, "_sqscb_patched", False):
        return
    original_store = EsmWorker.update_esm_state_in_store

    def update(self, context, request):
        old = self.esm_workers.get(request.get("UUID"))
        if old is not None:
            old._sqscb_superseded = True  # before the update stops it
        return original_update(self, context, request)

    def update_esm_state_in_store(self, new_state):
        if getattr(self, "_sqscb_superseded", False):
            return
        original_store(self, new_state)

    update._sqscb_patched = True
    LambdaProvider.update_event_source_mapping_v2 = update
    EsmWorker.update_esm_state_in_store = update_esm_state_in_store


def _install_visibility_timeout_check() -> None:
    from localstack.services.lambda_.event_source_mapping.pipe_utils import get_internal_client
    from localstack.services.lambda_.provider import InvalidParameterValueException, LambdaProvider
    from localstack.utils.aws.arns import parse_arn

    original = LambdaProvider.validate_event_source_mapping
    if getattr(original, "_sqscb_patched", False):
        return

    def validate(self, context, request):
        result = original(self, context, request)
        source_arn = request.get("EventSourceArn") or ""
        is_create = context.operation.name == self.create_event_source_mapping.operation
        if not is_create or ":sqs:" not in source_arn:
            return result
        function_version = result[3]
        arn = parse_arn(source_arn)
        sqs = get_internal_client(arn=source_arn)
        queue_url = f"http://sqs.{arn['region']}.domain/{arn['account']}/{arn['resource']}"
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"]
        )["Attributes"]
        error = visibility_timeout_error(
            int(attributes["VisibilityTimeout"]), int(function_version.config.timeout)
        )
        if error:
            raise InvalidParameterValueException(error, Type="User")
        return result

    validate._sqscb_patched = True
    LambdaProvider.validate_event_source_mapping = validate


def configured_sqs_pollers() -> int:
    try:
        return int(os.environ.get("HARNESS_SQS_ESM_POLLERS") or 1)
    except ValueError:
        return 1


def _install_concurrent_sqs_pollers() -> None:
    from localstack import config
    from localstack.services.lambda_.event_source_mapping.esm_worker import EsmWorker
    from localstack.services.lambda_.event_source_mapping.pollers.poller import (
        EmptyPollResultsException,
    )
    from localstack.services.lambda_.event_source_mapping.pollers.sqs_poller import SqsPoller

    original = EsmWorker.poller_loop
    if getattr(original, "_sqscb_patched", False):
        return

    def extra_poller(worker) -> None:
        while not worker._shutdown_event.is_set():
            wait = config.LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC
            try:
                worker.poller.poll_events()
            except EmptyPollResultsException:
                wait = max(
                    wait, min(1.0, config.LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC)
                )
            except Exception as error:
                LOG.warning("extra poller of %s: %s", worker.uuid, error)
                wait = 2.0
            worker._shutdown_event.wait(wait)

    def poller_loop(self, *args, **kwargs):
        self.poller._sqscb_esm_config = self.esm_config  # for the event count metrics (6.)
        if isinstance(self.poller, SqsPoller):
            scaling = self.esm_config.get("ScalingConfig") or {}
            count = sqs_pollers(configured_sqs_pollers(), scaling.get("MaximumConcurrency"))
            for index in range(1, count):
                threading.Thread(
                    target=extra_poller,
                    args=(self,),
                    name=f"esm-poller-{self.uuid}-{index}",
                    daemon=True,
                ).start()
        return original(self, *args, **kwargs)

    poller_loop._sqscb_patched = True
    EsmWorker.poller_loop = poller_loop


_RAW_BODIES = threading.local()  # per poller thread: the batch's bodies as received, by message id


def _install_sqs_bodies_as_sent() -> None:
    from localstack.services.lambda_.event_source_mapping.pollers.sqs_poller import SqsPoller

    original_handle = SqsPoller.handle_messages
    if getattr(original_handle, "_sqscb_patched", False):
        return
    original_filter = SqsPoller.filter_events
    original_metadata = SqsPoller.add_source_metadata

    def handle_messages(self, messages):
        _RAW_BODIES.bodies = {m["MessageId"]: m.get("Body", "") for m in messages}
        try:
            return original_handle(self, messages)
        finally:
            _RAW_BODIES.bodies = {}

    def filter_events(self, events):
        raw = getattr(_RAW_BODIES, "bodies", {})
        if not self.filter_patterns or not raw:
            return original_filter(self, events)
        admitted = []
        for event in events:
            body = raw.get(event.get("messageId"), "")
            patterns = [p for p in self.filter_patterns if body_format_admits(p, body)]
            if patterns and any(self._sqscb_matches(p, event) for p in patterns):
                admitted.append(event)
        return admitted

    def add_source_metadata(self, events, extra_metadata=None):
        raw = getattr(_RAW_BODIES, "bodies", {})
        for event in events:
            if event.get("messageId") in raw:
                event["body"] = raw[event["messageId"]]
        return original_metadata(self, events, extra_metadata)

    from localstack.utils.event_matcher import matches_event

    SqsPoller._sqscb_matches = staticmethod(matches_event)
    handle_messages._sqscb_patched = True
    SqsPoller.handle_messages = handle_messages
    SqsPoller.filter_events = filter_events
    SqsPoller.add_source_metadata = add_source_metadata


_EVENT_COUNTS = threading.local()  # per poller thread: the config of the mapping it polls for
_METRICS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="esm-metrics")


def _publish_event_counts(esm_config: dict, counts: dict[str, int]) -> None:
    from datetime import UTC, datetime

    from localstack.aws.connect import connect_to
    from localstack.utils.aws.arns import parse_arn

    from localstack_harness.alarm_logic import minute_start

    arn = parse_arn(esm_config["EventSourceMappingArn"])
    when = minute_start(datetime.now(tz=UTC))
    cloudwatch = connect_to(aws_access_key_id=arn["account"], region_name=arn["region"]).cloudwatch
    try:
        cloudwatch.put_metric_data(
            Namespace="AWS/Lambda",
            MetricData=[
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": "EventSourceMappingUUID", "Value": esm_config["UUID"]}],
                    "Timestamp": when,
                    "Value": value,
                    "Unit": "Count",
                    "StorageResolution": 60,
                }
                for name, value in counts.items()
            ],
        )
    except Exception as exc:
        LOG.info("could not put the event counts of mapping %s: %s", esm_config.get("UUID"), exc)


def _count(counts: dict[str, int]) -> None:
    config = getattr(_EVENT_COUNTS, "config", None)
    if config and emits_event_counts(config):
        _METRICS.submit(_publish_event_counts, config, counts)


def _install_event_count_metrics() -> None:
    from localstack.services.lambda_.event_source_mapping.esm_event_processor import (
        EsmEventProcessor,
    )
    from localstack.services.lambda_.event_source_mapping.pollers.sqs_poller import SqsPoller

    original_handle = SqsPoller.handle_messages
    if getattr(original_handle, "_sqscb_counts", False):
        return
    original_process = EsmEventProcessor.process_events_batch

    def handle_messages(self, messages):
        _EVENT_COUNTS.config = getattr(self, "_sqscb_esm_config", None)
        _count({"PolledEventCount": len(messages)})
        try:
            return original_handle(self, messages)
        finally:
            _EVENT_COUNTS.config = None

    def process_events_batch(self, input_events):
        events = len(input_events) if isinstance(input_events, list) else 1
        try:
            result = original_process(self, input_events)
        except Exception:
            # a function error, a failed invoke or a non-empty batchItemFailures
            _count(invoke_event_counts(events, failed=True))
            raise
        _count(invoke_event_counts(events, failed=False))
        return result

    handle_messages._sqscb_counts = True
    SqsPoller.handle_messages = handle_messages
    EsmEventProcessor.process_events_batch = process_events_batch


@hooks.on_infra_start()
def install_esm_fidelity() -> None:
    _install_complete_deletion()
    _install_superseded_workers_keep_quiet()
    _install_visibility_timeout_check()
    _install_concurrent_sqs_pollers()
    _install_sqs_bodies_as_sent()
    _install_event_count_metrics()  # after the bodies' wrapper: it wraps that one
    LOG.info(
        "event source mapping fidelity installed: deletion completes, state of the current"
        " worker, visibility check, bodies as sent, the filters' body-format rule, event counts,"
        " %d SQS poller(s) per mapping",
        configured_sqs_pollers(),
    )
