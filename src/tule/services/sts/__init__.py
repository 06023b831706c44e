"""STS: who the caller is. tule has one account; the caller is that account's root user."""

from __future__ import annotations

from dataclasses import dataclass

from tule.services.base import ServiceEnv


@dataclass(frozen=True)
class CallerIdentity:
    """What GetCallerIdentity reports."""

    account: str
    user_id: str
    arn: str


class STS:
    """The STS domain."""

    def __init__(self, env: ServiceEnv) -> None:
        self.account_id = env.settings.account_id

    def caller_identity(self, access_key_id: str | None) -> CallerIdentity:
        # Any credentials are accepted (or verified with --auth); they all act as the account's
        # root user, as with AWS emulators, so SDK helpers such as default_bucket() work.
        return CallerIdentity(
            account=self.account_id,
            user_id=access_key_id or self.account_id,
            arn=f"arn:aws:iam::{self.account_id}:root",
        )
