"""SSM Parameter Store fidelity for community LocalStack (loaded as an `on_infra_start` hook).

Value size. AWS refuses a PutParameter whose value is longer than its tier allows (standard:
4,096 characters; advanced: 8,192) with a ValidationException. LocalStack (through moto) stores
values of any size, so a record that fits here could fail on AWS: the breaker's control marker
holds execution names, the caller's ARN and the operator's reason. Here the limit is enforced with
AWS's error.
"""

from __future__ import annotations

import logging

from localstack.runtime import hooks

from localstack_harness.ssm_logic import value_too_long_error

LOG = logging.getLogger("localstack_harness.ssm")


def _install_value_size_limit() -> None:
    from localstack.aws.api import CommonServiceException
    from localstack.services.ssm.provider import SsmProvider

    original = SsmProvider.put_parameter
    if getattr(original, "_sqscb_patched", False):
        return

    def put_parameter(self, context, request, **kwargs):
        error = value_too_long_error(str(request.get("Value") or ""), request.get("Tier"))
        if error is not None:
            LOG.info("PutParameter %s refused: value too long", request.get("Name"))
            raise CommonServiceException("ValidationException", error, status_code=400)
        return original(self, context, request, **kwargs)

    put_parameter._sqscb_patched = True
    SsmProvider.put_parameter = put_parameter


@hooks.on_infra_start()
def install_ssm_fidelity() -> None:
    _install_value_size_limit()
    LOG.info("ssm fidelity installed: parameter values are limited by tier")
