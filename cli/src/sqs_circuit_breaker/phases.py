"""The one table that maps the state machine's states to the phase of an episode.

Update it when the ASL template gains or renames states. States not listed are OPEN; states whose
name starts with "Notify" (except those listed) and the shared control-check states take the phase
of the state before them.
"""

from __future__ import annotations

from collections.abc import Iterable

OPENING = "OPENING"
OPEN = "OPEN"
HALF_OPEN = "HALF-OPEN"
REJITTER = "REJITTER"
CLOSED = "CLOSED"

PHASE_STATES: dict[str, tuple[str, ...]] = {
    OPENING: (
        # the prelude of every execution, and of the commands (hold / close)
        "Begin",
        "RouteCommand",
        "InvalidCommand",
        "InitHold",
        "InitClose",
        "BuildControlRecord",
        "WriteControl",
        "TakeLeaseForCommand",
        "ReadControlAtStart",
        "AssumeAutoControl",
        "IsHeldAtStart",
        "AlarmIgnoredHeld",
        # single flight: the episode lease
        "AcquireLease",
        "ReadLease",
        "JudgeLease",
        "IsAlarmAfterClose",
        "TakeOverFromWatch",
        "DescribeLeaseHolder",
        "IsLeaseHolderRunning",
        "TakeOverStaleLease",
        "CountLeaseAttempt",
        "InitLeaseAttempts",
        "NextLeaseAttempt",
        "ShouldRecheckDuplicate",
        "InitDuplicateRecheck",
        "CountDuplicateRecheck",
        "WaitBeforeDuplicateRecheck",
        "DuplicateEpisode",
        "OwnEpisode",
        "InvalidContinuation",
        # re-opening from the watch
        "ClaimEpisodeFromWatch",
        # open
        "GetMappingSettings",
        "CheckMapping",
        "MappingInconsistent",
        "HasScalingConfig",
        "RememberScalingConfig",
        "RememberNoScalingConfig",
        "HasResponseTypes",
        "RememberResponseTypes",
        "RememberNoResponseTypes",
        "InitTracking",
        "IsRampInProgress",
        "ReadSavedSettings",
        "HasSavedScalingConfig",
        "UseSavedScalingConfig",
        "GetQueueAttributes",
        "ComputeRetentionBudget",
        "RouteAfterPrelude",
        "IsMappingEnabled",
        "BuildSettingsRecord",
        "SaveSettings",
        "RouteAfterSave",
        "DisableMapping",
        # the hold and force-close commands
        "HoldIsMappingEnabled",
        "HoldDisableMapping",
        "HoldDisableRejitter",
        "HoldPublishOpenMetric",
        "HoldSettle",
        "HoldVerifyMapping",
        "IsHeldMappingDisabled",
        "HoldDisableMappingAgain",
        "Held",
        "ForceCloseDisableRejitter",
        "ForceClose",
        "ForceCloseSettle",
        "ForceCloseVerifyMapping",
        "IsForceClosedMappingEnabled",
        "ForceCloseEnableAgain",
    ),
    HALF_OPEN: (
        "PrepareProbe",
        "Probe",
        "HasProbeOutcome",
        "ProbeOutcome",
        "InvalidProbeResult",
        "TrackMessageAge",
        "UseMessageAge",
        "PublishHalfOpenMetric",
        "OpenHalfway",
        "HalfOpenWindow",
    ),
    REJITTER: ("EnableRejitter", "RejitterWindow", "ControlAfterRejitter", "DisableRejitter"),
    OPEN: (
        # a successor execution that continues the probe loop (history hand-over)
        "RestoreProbePhase",
        "PrepareProbeHandOver",
    ),
    CLOSED: (
        "CloseCircuit",
        "PublishClosedMetric",
        "NotifyClosed",
        "ShouldWatchAfterClose",
        "InitWatch",
        "MarkLeaseWatching",
        "WatchAfterClose",
        "MeasureWatchHistory",
        "WatchHistoryLeft",
        "ControlInWatch",
        "DescribeAlarmAfterClose",
        "AlarmAfterClose",
        "ReadCompositeAlarm",
        "ReadMetricAlarm",
        "JudgeAlarmAfterClose",
        "HasAlarmTransitionedAfterClose",
        "HasAlarmUpdatedAfterClose",
        "MarkSawOk",
        "WatchPollsLeft",
        "CountWatchPoll",
        "WatchOver",
        "RearmAlarm",
        "MarkRearmed",
        "WaitForAlarmEvaluation",
        "RestoreWatchPhase",
        "PrepareWatchHandOver",
        "Closed",
        "ReleaseLease",
    ),
}

# Shared states entered from several phases: they take the phase of the state before them.
TRANSPARENT_STATES = frozenset(
    {
        "ControlBeforeProbe",
        "ControlBeforeRecovery",
        "ControlBeforeClose",
        "CheckControl",
        "IsStillLeaseHolder",
        "ResumeAfterControl",
        # the history hand-over and a successor's first states: the phase it continues
        "MeasureProbeHistory",
        "ProbeHistoryLeft",
        "StartSuccessor",
        "HandedOver",
        "CheckContinuation",
        "ClaimLeaseFromPredecessor",
        "RouteContinuation",
    }
)

STATE_PHASE: dict[str, str] = {
    state: phase for phase, states in PHASE_STATES.items() for state in states
}


def phase_of(state_names: Iterable[str]) -> str:
    """The phase of an episode from its entered states, newest first.

    Listed states (NotifyClosed is one) have their phase; other Notify* states and the transparent
    states take the phase of the state before them; any other state is OPEN.
    """
    for name in state_names:
        if name in STATE_PHASE:
            return STATE_PHASE[name]
        if not (name.startswith("Notify") or name in TRANSPARENT_STATES):
            return OPEN
    return OPEN
