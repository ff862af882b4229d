"""CloudWatch alarm fidelity for community LocalStack (loaded as an `on_infra_start` hook).

1. Alarm state change events. AWS publishes a "CloudWatch Alarm State Change" event to the
   default EventBridge bus on every alarm state transition; community LocalStack does not.
   We wrap the CloudWatch provider's state update (used by the alarm scheduler and by
   SetAlarmState alike) and publish exactly AWS's event shape. The same wrapper keeps
   StateTransitionedTimestamp (the last change of StateValue) current on every transition.
2. Metric-math alarms. LocalStack schedules only simple metric alarms ("only simple MetricAlarm
   are supported"), so an error-rate alarm never fires. Alarms with `Metrics` are evaluated
   here: every `Period` seconds, per period window, with `metric_math` for the expression and
   LocalStack's own evaluation of threshold, evaluation periods, datapoints to alarm and
   treat-missing-data. Unsupported expressions are refused with one clear log line.
3. Re-evaluation after SetAlarmState. AWS evaluates an alarm again soon after SetAlarmState
   (the state set by hand lasts until the next evaluation): an alarm reset to OK while its data
   still breaches trips again within seconds. Here a metric-math alarm is evaluated
   REEVALUATE_AFTER_SET_SECONDS after SetAlarmState, not only at its next scheduled period.
4. 1-minute resolution of AWS/Lambda metrics. Lambda publishes standard-resolution metrics: one
   datapoint per minute, time-stamped at the start of the minute. LocalStack time-stamps each
   invocation to the second, so a 10 s alarm on Lambda metrics would work here and never on AWS.
   Here the datapoints are time-stamped at the start of their minute.
5. Lambda's Duration. AWS publishes every invocation's Duration (milliseconds, the time the
   function code ran); LocalStack publishes no Duration at all. Here each invocation's run time
   (the execution environment's invoke, as Lambda measures it: init excluded) is published, at
   1-minute resolution like the other AWS/Lambda metrics.
6. Percentile rank. CloudWatch's `PR(low:high)` statistic, "the percentage of data points" in
   (low, high], e.g. PR(:300) = the share of values <= 300 (a slow-call alarm on Duration);
   LocalStack knows only Sum, Average, Minimum, Maximum and SampleCount (a PR query failed).
   Here PR is computed from the stored values; as on AWS, values sent as statistic sets have no
   percentile rank.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from localstack.runtime import hooks

from localstack_harness import metric_math
from localstack_harness.alarm_logic import (
    alarm_period,
    minute_start,
    percentile_rank,
    percentile_rank_bounds,
    state_change_entry,
    state_object,
    window_values,
)

LOG = logging.getLogger("localstack_harness.alarms")
_PUBLISHER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alarm-events")
REEVALUATE_AFTER_SET_SECONDS = 2.0


def _publish(entry: dict, region: str, account_id: str) -> None:
    from localstack.aws.connect import connect_to

    try:
        events = connect_to(region_name=region, aws_access_key_id=account_id).events
        result = events.put_events(Entries=[entry])
        if result.get("FailedEntryCount"):
            LOG.error("alarm state change event rejected: %s", result["Entries"])
    except Exception:
        LOG.exception("could not publish the alarm state change event for %s", entry["Resources"])


def _install_state_change_events() -> None:
    from localstack.services.cloudwatch.provider_v2 import CloudwatchProvider

    original = CloudwatchProvider._update_state
    if getattr(original, "_sqscb_patched", False):
        return

    def _update_state(self, context, alarm, state_value, state_reason, *args, **kwargs):
        before = alarm.alarm
        previous = state_object(
            before.get("StateValue"),
            before.get("StateReason"),
            before.get("StateReasonData"),
            before.get("StateUpdatedTimestamp"),
        )
        old_value = before.get("StateValue")
        original(self, context, alarm, state_value, state_reason, *args, **kwargs)
        if old_value != alarm.alarm.get("StateValue"):
            # AWS: StateTransitionedTimestamp is "the date and time that the alarm's StateValue
            # most recently changed"; LocalStack set it on metric-alarm evaluations only (not
            # for SetAlarmState, the harness's metric-math alarms or composite alarms).
            alarm.alarm["StateTransitionedTimestamp"] = datetime.now(tz=UTC)
            entry = state_change_entry(dict(alarm.alarm), previous, alarm.region)
            _PUBLISHER.submit(_publish, entry, alarm.region, alarm.account_id)

    _update_state._sqscb_patched = True
    CloudwatchProvider._update_state = _update_state


# ---- 2. metric-math alarms ------------------------------------------------------------------


def _install_metric_math() -> None:
    from localstack.services.cloudwatch import alarm_scheduler as sched

    if getattr(sched.collect_metric_data, "_sqscb_patched", False):
        return
    original_details = sched.get_metric_alarm_details_for_alarm_arn
    original_collect = sched.collect_metric_data
    original_schedule = sched.AlarmScheduler.schedule_metric_alarm

    def get_details(alarm_arn: str):
        details = original_details(alarm_arn)
        if details and details.get("Metrics") and "Period" not in details:
            details = dict(details)
            details["Period"] = alarm_period(details)
        return details

    def collect(alarm_details, client):
        if alarm_details.get("Metrics"):
            return window_values(alarm_details, client, datetime.now(tz=UTC))
        return original_collect(alarm_details, client)

    def schedule(self, alarm_arn: str) -> None:
        details = sched.get_metric_alarm_details_for_alarm_arn(alarm_arn)
        if not details or not details.get("Metrics"):
            original_schedule(self, alarm_arn)
            return
        self.delete_scheduler_for_alarm(alarm_arn)
        try:
            metric_math.validate_queries(details["Metrics"])
        except metric_math.MetricMathError as exc:
            LOG.warning("metric-math alarm %s will not be evaluated: %s", details["AlarmName"], exc)
            return

        def on_error(exc):
            LOG.error("evaluating metric-math alarm %s failed: %s", details["AlarmName"], exc)

        # AWS evaluates an alarm every period (every minute at most), not every
        # EvaluationPeriods x Period as LocalStack's scheduler does for simple alarms.
        self.scheduled_alarms[alarm_arn] = self.scheduler.schedule(
            func=sched.calculate_alarm_state,
            period=details["Period"],
            fixed_rate=True,
            args=[alarm_arn],
            on_error=on_error,
        )
        LOG.info(
            "metric-math alarm %s scheduled every %ss", details["AlarmName"], details["Period"]
        )

    collect._sqscb_patched = True
    sched.get_metric_alarm_details_for_alarm_arn = get_details
    sched.collect_metric_data = collect
    sched.AlarmScheduler.schedule_metric_alarm = schedule


# ---- 3. re-evaluation after SetAlarmState ---------------------------------------------------


def _install_reevaluation_after_set() -> None:
    from localstack.services.cloudwatch import alarm_scheduler as sched
    from localstack.services.cloudwatch.provider_v2 import CloudwatchProvider
    from localstack.utils.aws import arns

    original = CloudwatchProvider.set_alarm_state
    if getattr(original, "_sqscb_patched", False):
        return

    def set_alarm_state(self, context, alarm_name, state_value, state_reason, *args, **kwargs):
        result = original(self, context, alarm_name, state_value, state_reason, *args, **kwargs)
        arn = arns.cloudwatch_alarm_arn(
            alarm_name, account_id=context.account_id, region_name=context.region
        )
        details = sched.get_metric_alarm_details_for_alarm_arn(arn)
        if details and details.get("Metrics"):

            def evaluate() -> None:
                try:
                    sched.calculate_alarm_state(arn)
                except Exception:
                    LOG.exception("re-evaluating alarm %s after SetAlarmState failed", alarm_name)

            timer = threading.Timer(REEVALUATE_AFTER_SET_SECONDS, evaluate)
            timer.daemon = True
            timer.start()
        return result

    set_alarm_state._sqscb_patched = True
    CloudwatchProvider.set_alarm_state = set_alarm_state


# ---- 4. 1-minute resolution of Lambda metrics ------------------------------------------------


def _install_minute_resolution_lambda_metrics() -> None:
    from localstack.services.lambda_.invocation import metrics
    from localstack.utils.cloudwatch import cloudwatch_util

    if getattr(metrics.publish_lambda_metric, "_sqscb_patched", False):
        return

    def publish_lambda_metric(metric, value, kwargs, account_id=None, region_name=None):
        from localstack.aws.connect import connect_to
        from localstack.utils.bootstrap import is_api_enabled

        if not is_api_enabled("cloudwatch"):
            return
        client = connect_to(aws_access_key_id=account_id, region_name=region_name).cloudwatch
        try:
            client.put_metric_data(
                Namespace="AWS/Lambda",
                MetricData=[
                    {
                        "MetricName": metric,
                        "Dimensions": cloudwatch_util.dimension_lambda(kwargs),
                        "Timestamp": minute_start(datetime.now(tz=UTC)),
                        "Value": value,
                        "StorageResolution": 60,
                    }
                ],
            )
        except Exception as exc:
            LOG.info("could not put Lambda metric %s: %s", metric, exc)

    publish_lambda_metric._sqscb_patched = True
    cloudwatch_util.publish_lambda_metric = publish_lambda_metric
    metrics.publish_lambda_metric = publish_lambda_metric


# ---- 5. Lambda's Duration -------------------------------------------------------------------

_DURATIONS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lambda-duration")


def _install_duration_metric() -> None:
    from localstack.services.lambda_.invocation import metrics
    from localstack.services.lambda_.invocation.execution_environment import ExecutionEnvironment

    original = ExecutionEnvironment.invoke
    if getattr(original, "_sqscb_patched", False):
        return

    def invoke(self, invocation):
        started = time.monotonic()
        try:
            return original(self, invocation)
        finally:
            milliseconds = (time.monotonic() - started) * 1000.0
            function = self.function_version.id
            _DURATIONS.submit(
                metrics.publish_lambda_metric,  # the 1-minute resolution one (4.)
                "Duration",
                round(milliseconds, 2),
                {"func_name": function.function_name},
                account_id=function.account,
                region_name=function.region,
            )

    invoke._sqscb_patched = True
    ExecutionEnvironment.invoke = invoke


# ---- 6. percentile rank -----------------------------------------------------------------------


def _install_percentile_rank() -> None:
    import sqlite3

    from localstack.services.cloudwatch.cloudwatch_database_helper import CloudwatchDatabase

    original = CloudwatchDatabase.get_metric_data_stat
    if getattr(original, "_sqscb_patched", False):
        return

    # LocalStack's signature (its callers pass keywords)
    def get_metric_data_stat(self, account_id, region, query, start_time, end_time, scan_by):  # noqa: PLR0917
        stat = query.get("MetricStat") or {}
        bounds = percentile_rank_bounds(stat.get("Stat") or "")
        if bounds is None:
            return original(self, account_id, region, query, start_time, end_time, scan_by)
        metric, period = stat["Metric"], int(stat["Period"])
        dimensions = list(metric.get("Dimensions") or [])
        sql = (
            f"SELECT value FROM {self.TABLE_SINGLE_METRICS} WHERE account_id = ? AND region = ?"
            " AND namespace = ? AND metric_name = ? AND timestamp >= ? AND timestamp < ? "
            + ("AND dimensions LIKE ?" if dimensions else "AND dimensions is null")
        )
        searched = self._get_ordered_dimensions_with_separator(dimensions, for_search=True)
        timestamps, values = [], []
        start = self._convert_timestamp_to_unix(start_time)
        end = self._convert_timestamp_to_unix(end_time)
        with self.DATABASE_LOCK, sqlite3.connect(self.METRICS_DB_READ_ONLY, uri=True) as conn:
            cursor = conn.cursor()
            while start < end:
                params = [account_id, region, metric.get("Namespace"), metric.get("MetricName")]
                params += [start, start + period] + ([searched] if dimensions else [])
                rank = percentile_rank([row[0] for row in cursor.execute(sql, params)], *bounds)
                if rank is not None:
                    timestamps.append(start)
                    values.append(rank)
                start += period
        if scan_by is None or scan_by == "TimestampDescending":
            timestamps, values = timestamps[::-1], values[::-1]
        return {"timestamps": timestamps, "values": values}

    get_metric_data_stat._sqscb_patched = True
    CloudwatchDatabase.get_metric_data_stat = get_metric_data_stat


@hooks.on_infra_start()
def install_alarm_fidelity() -> None:
    _install_state_change_events()
    _install_metric_math()
    _install_reevaluation_after_set()
    _install_minute_resolution_lambda_metrics()
    _install_duration_metric()
    _install_percentile_rank()
    LOG.info(
        "alarm fidelity installed: state change events, metric-math alarms, re-evaluation after"
        " SetAlarmState, 1-minute Lambda metrics, Duration, percentile rank"
    )
