"""sqs-circuit-breaker: the operator's command line for terraform-aws-sqs-circuit-breaker."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from rich.console import Console
from rich.markup import escape

from . import __version__, commands
from .aws import Aws
from .errors import EXIT_CODES_HELP, CliError, from_client_error

DESCRIPTION = """\
Operate the circuits of terraform-aws-sqs-circuit-breaker: see their state and history, hold one
open, close one, rehearse an episode. CIRCUIT is the module's `name` (the state machine is
NAME-circuit-breaker in the current account and region) or a state machine ARN. Credentials, region
and endpoint come from the standard AWS settings (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL)."""

DRILL_HELP = """\
Set the circuit's alarm to ALARM (as `aws cloudwatch set-alarm-state` would) and follow the episode
live until it ends; exit 0 if the circuit ended CLOSED. On AWS the alarm re-evaluates on real data:
the drill opens the circuit only until the next probe finds the function healthy (a rehearsal that
does not break the function). Refused unless the circuit is CLOSED with no running episode."""

REDRIVE_HELP = """\
Give the outage's casualties back: move the messages of the circuit queue's dead-letter queue (its
RedrivePolicy) back to the queue with SQS's StartMessageMoveTask, and show the progress until the
move ends. Refused (exit 3) while the circuit is open, half-open or held, and while a move is
already running. The runbook: close, watch the circuit stay CLOSED, then redrive."""


def _command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    example: str,
    description: str | None = None,
) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        name,
        help=help_text,
        description=description or help_text,
        epilog=f"example:\n  {example}\n\n{EXIT_CODES_HELP}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("circuit", metavar="CIRCUIT", help="circuit name or state machine ARN")
    parser.add_argument("--region", help="AWS region (default: the standard AWS settings)")
    parser.add_argument("--profile", help="AWS profile (default: the standard AWS settings)")
    return parser


def _positive(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


# The control marker (an SSM standard-tier parameter, at most 4096 characters) holds the reason
# next to up to 20 execution names and the caller's ARN: a reason of this many characters fits.
MAX_REASON_CHARS = 256


def _reason(text: str) -> str:
    reason = text.strip()
    if not reason:
        raise argparse.ArgumentTypeError("must not be empty")
    if len(reason) > MAX_REASON_CHARS:
        raise argparse.ArgumentTypeError(
            f"is {len(reason)} characters long; at most {MAX_REASON_CHARS} fit the circuit's"
            " control marker (an SSM parameter of 4 KB): shorten it (link to a ticket for details)"
        )
    return reason


MAX_HOLD_SECONDS = 364 * 86400  # a Standard execution runs at most a year: the hold's waits in one
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def _duration(text: str) -> int:
    """Seconds from 90s, 45m, 2h, 1d12h (or a plain number of seconds)."""
    text = text.strip().lower()
    if text.isdigit():
        seconds = int(text)
    else:
        match = _DURATION.match(text)
        if not text or not match:
            raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 90s, 45m, 2h, 1d12h)")
        days, hours, minutes, secs = (int(part or 0) for part in match.groups())
        seconds = ((days * 24 + hours) * 60 + minutes) * 60 + secs
    if not 1 <= seconds <= MAX_HOLD_SECONDS:
        raise argparse.ArgumentTypeError(f"must be 1 s to {MAX_HOLD_SECONDS // 86400} days")
    return seconds


def _rate(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 500:
        raise argparse.ArgumentTypeError("must be 1-500 (SQS's MaxNumberOfMessagesPerSecond)")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def arn_region(circuit: str) -> str | None:
    """The region of a state machine ARN (arn:partition:states:region:account:...), if any."""
    parts = circuit.split(":")
    if circuit.startswith("arn:") and len(parts) > 3 and parts[3]:
        return parts[3]
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sqs-circuit-breaker",
        description=DESCRIPTION,
        epilog=f"example:\n  sqs-circuit-breaker status orders\n\n{EXIT_CODES_HELP}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    status = _command(
        sub,
        "status",
        "show the circuit's state, episode, mapping, queue and alarm",
        "sqs-circuit-breaker status orders --json",
    )
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.add_argument("--watch", action="store_true", help="refresh a live view until Ctrl-C")
    status.add_argument("--interval", type=_positive, default=2.0, help="--watch refresh (s)")
    status.set_defaults(handler=commands.status)

    history = _command(
        sub,
        "history",
        "list the last episodes and commands, newest first",
        "sqs-circuit-breaker history orders --limit 20",
    )
    history.add_argument("--limit", type=_count, default=10, help="rows to show (default 10)")
    history.add_argument("--all", action="store_true", help="include duplicates, ignored alarms")
    history.add_argument("--json", action="store_true", help="print a JSON array")
    history.set_defaults(handler=commands.history)

    hold = _command(
        sub,
        "open",
        "hold the circuit open (mapping disabled, no probes) until `close`, or for --for DURATION",
        'sqs-circuit-breaker open orders --hold --for 2h --reason "database migration"',
    )
    hold.add_argument(
        "--reason",
        required=True,
        type=_reason,
        help=f"why, at most {MAX_REASON_CHARS} characters (shown in status and notifications)",
    )
    hold.add_argument(
        "--for",
        dest="hold_for",
        type=_duration,
        default=None,
        metavar="DURATION",
        help="a timed hold: close by itself after DURATION (90s, 45m, 2h, 1d12h; at most 364d),"
        " as close would, unless a later command supersedes it",
    )
    hold.add_argument(
        "--hold", action="store_true", help="(the default: open always holds; accepted for clarity)"
    )
    hold.add_argument("--timeout", type=_positive, default=120.0, help="wait limit (s)")
    hold.add_argument("--json", action="store_true", help="print the final status as JSON")
    hold.set_defaults(handler=commands.open_circuit)

    close = _command(
        sub,
        "close",
        "close the circuit now: end any episode or hold, restore the settings, re-arm the alarm",
        'sqs-circuit-breaker close orders --reason "migration done"',
    )
    close.add_argument(
        "--reason",
        default="closed by an operator",
        type=_reason,
        help=f"why, at most {MAX_REASON_CHARS} characters",
    )
    close.add_argument("--timeout", type=_positive, default=120.0, help="wait limit (s)")
    close.add_argument("--json", action="store_true", help="print the final status as JSON")
    close.set_defaults(handler=commands.close_circuit)

    drill = _command(
        sub, "drill", "rehearse an episode", "sqs-circuit-breaker drill orders", DRILL_HELP
    )
    drill.add_argument("--timeout", type=_positive, default=1800.0, help="wait limit (s)")
    drill.add_argument("--interval", type=_positive, default=2.0, help="refresh (s)")
    drill.set_defaults(handler=commands.drill)

    redrive = _command(
        sub,
        "redrive",
        "move the dead-letter queue's messages back to the circuit's queue (a closed circuit only)",
        "sqs-circuit-breaker redrive orders --rate 10",
        REDRIVE_HELP,
    )
    redrive.add_argument(
        "--rate",
        type=_rate,
        default=None,
        help="at most N messages per second, 1-500 (default: SQS's own pace)",
    )
    redrive.add_argument(
        "--max",
        type=_count,
        default=None,
        help="stop (cancel the move) once M messages have moved; SQS may move up to a second's"
        " worth more",
    )
    redrive.add_argument("--timeout", type=_positive, default=900.0, help="follow limit (s)")
    redrive.add_argument("--json", action="store_true", help="print the final task as JSON")
    redrive.set_defaults(handler=commands.redrive)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console()
    errors = Console(stderr=True)
    aws: Aws | None = None
    try:
        aws = Aws.create(args.profile, args.region or arn_region(args.circuit))
        return int(args.handler(aws, args, console))
    except ClientError as exc:
        error = from_client_error(exc, aws.kms_key if aws else None)
    except CliError as exc:
        error = exc
    except NoCredentialsError:
        error = CliError("no AWS credentials found: set AWS_PROFILE or the AWS_* variables")
    except BotoCoreError as exc:
        error = CliError(f"AWS error: {exc}")
    except KeyboardInterrupt:
        return 130
    errors.print(f"[bold red]error:[/] {escape(str(error))}", soft_wrap=True)
    return int(error.code)


if __name__ == "__main__":
    sys.exit(main())
