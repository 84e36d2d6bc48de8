"""The Bolt app: `/icp`, the Claim / Not a fit / Explain actions, the modal and App Home.

Requests arrive at `POST /slack/events` (`bot.slack.http`) or over Socket
Mode. Every handler acknowledges first or answers inside the
acknowledgement: Slack gives three seconds. A stored account's answer goes
back in the acknowledgement itself (one round trip); one the CRM must be
asked about is acknowledged with "looking it up" and finished through the
command's `response_url`. No input reaches Slack as a traceback: every
handler catches, logs and says something useful.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from slack_bolt import Ack, App, BoltResponse, Respond
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient
from sqlalchemy import Engine as Database

from bot.metrics import Metrics
from bot.routing.router import Router
from bot.slack.answers import Answers
from bot.slack.calibration import send_calibration
from bot.slack.command import Calibrate, Rescore, parse
from bot.slack.people import Directory
from bot.store import leads, repo, slack_events
from bot.store.db import read_session
from bot.store.db import session as open_session
from bot.store.tables import Subject
from bot.views.answers import EXPLAIN, Answer, notice
from bot.views.common import CRM_NAMES, escape, one_line
from bot.views.feedback import (
    MAX_NOTE,
    NOT_A_FIT_VIEW,
    NOTE_ACTION,
    NOTE_BLOCK,
    REASON_ACTION,
    REASON_BLOCK,
    REASONS,
    feedback_note,
    not_a_fit_modal,
)
from bot.views.home import Routed, home_view
from bot.views.routing_post import CLAIM, LEAD_MENU, NOT_A_FIT, OPEN_CRM, claimed_blocks
from integrations.base import LiveCrm
from integrations.records import RecordKind
from scoring.fields import FieldType, known_fields

log = logging.getLogger(__name__)

COMMAND = "/icp"
CALIBRATING = (
    ":hourglass_flowing_sand: Calibrating the ICP against the won, lost and churned deals in "
    "the store; the summary and its chart will arrive in a direct message from me."
)
Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class SlackContext:
    """What the handlers share."""

    database: Database
    client: WebClient
    answers: Answers
    router: Router
    directory: Directory
    admins: frozenset[str]
    crms: Mapping[str, LiveCrm]  # the listened-to CRMs, by name
    clock: Clock
    metrics: Metrics | None = None
    field_types: Mapping[str, FieldType] = field(default_factory=known_fields)


def build_app(ctx: SlackContext, *, signing_secret: str | None, workers: int = 8) -> App:
    """The Bolt app with every listener registered; `signing_secret` None for Socket Mode.

    Listeners run in the request's own thread (`process_before_response`):
    the answer to `/icp` is ready when the listener returns, with no hand-off
    to another thread and no polling for the acknowledgement. Anything that
    waits on the network is acknowledged first and finished on `workers`
    background threads.
    """
    app = App(
        client=ctx.client,
        signing_secret=signing_secret,
        token_verification_enabled=False,  # `icpbot serve` checks the token once at start
        request_verification_enabled=signing_secret is not None,
        process_before_response=True,
        logger=_bolt_logger(),
    )
    handlers = Handlers(ctx, ThreadPoolExecutor(workers, thread_name_prefix="slack-work"))
    app.middleware(handlers.once_per_event)
    app.command(COMMAND)(handlers.icp)
    app.action(CLAIM)(handlers.claim_button)
    app.action(NOT_A_FIT)(handlers.not_a_fit_button)
    app.action(re.compile(f"^{LEAD_MENU}:"))(handlers.lead_menu)
    app.action(EXPLAIN)(handlers.explain_button)
    app.action(OPEN_CRM)(handlers.just_ack)
    app.view(NOT_A_FIT_VIEW)(handlers.not_a_fit_submitted)
    app.event("app_home_opened")(handlers.home_opened)
    app.error(handlers.on_error)
    return app


class _QuietAboutTheToken(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment even when it is given the client
    made from it, then warns that the token "will be unused": true, and nothing to act on."""

    NOTICE = warning_client_prioritized_and_token_skipped()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self.NOTICE


_QUIET = _QuietAboutTheToken()


def _bolt_logger() -> logging.Logger:
    logger = logging.getLogger("bot.slack.bolt")
    logger.addFilter(_QUIET)  # once: the same filter is not added twice
    return logger


def reply(answer: Answer) -> dict[str, Any]:
    """An answer as an ephemeral response body."""
    return {"response_type": "ephemeral", "text": answer.text, "blocks": answer.blocks}


class Handlers:
    """The listeners; each one small, each one catching what it cannot handle."""

    def __init__(self, ctx: SlackContext, background: Executor) -> None:
        self.ctx = ctx
        self.background = background

    def _later(self, work: Callable[..., None], *args: Any) -> None:
        """Run `work` after the acknowledgement, on a background thread; log what it raises."""

        def run() -> None:
            try:
                work(*args)
            except Exception:
                log.exception("slack: %s failed", getattr(work, "__name__", work))

        self.background.submit(run)

    # -- /icp --------------------------------------------------------------------------------

    def icp(self, ack: Ack, respond: Respond, command: dict[str, Any]) -> None:
        started = time.perf_counter()
        request = parse(command.get("text"))
        user = str(command.get("user_id") or "")
        if isinstance(request, Rescore | Calibrate) and user not in self.ctx.admins:
            verb = "rescore" if isinstance(request, Rescore) else "calibration"
            ack(**reply(notice(f"`/icp {verb}` is for admins (the `ICPBOT_ADMINS` setting).")))
            return
        if isinstance(request, Calibrate):
            ack(**reply(notice(CALIBRATING)))
            self._later(self._calibration, user, respond)
            return
        try:
            answer = self.ctx.answers.quick(request)
        except Exception:
            log.exception("/icp %r failed", command.get("text"))
            ack(**reply(notice(":warning: Something went wrong on our side; try again.")))
            return
        if answer is not None:
            ack(**reply(answer))
            self._observe("store", started)
            return
        ack(response_type="ephemeral", text=self.ctx.answers.looking_up(request))

        def finish() -> None:
            respond(**reply(self._slow(request)), replace_original=True)
            self._observe("crm", started)

        self._later(finish)

    def _calibration(self, user: str, respond: Respond) -> None:
        try:
            send_calibration(
                client=self.ctx.client,
                database=self.ctx.database,
                icp=self.ctx.answers.icp,
                types=self.ctx.field_types,
                user=user,
                now=self.ctx.clock(),
            )
        except Exception as exc:
            log.warning("/icp calibration failed", exc_info=True)
            respond(
                **reply(
                    notice(
                        f":warning: The calibration failed ({escape(one_line(type(exc).__name__))})"
                        "; `icpbot calibrate` on the command line says more."
                    )
                ),
                replace_original=True,
            )

    def _observe(self, path: str, started: float) -> None:
        if self.ctx.metrics is not None:
            self.ctx.metrics.slack_commands.labels(path=path).observe(time.perf_counter() - started)

    def _slow(self, request: Any) -> Answer:
        try:
            return self.ctx.answers.slow(request)
        except Exception as exc:
            log.warning("/icp: asking the CRM failed", exc_info=True)
            return notice(
                f":warning: {self.ctx.answers.crm_name} did not answer "
                f"({escape(one_line(type(exc).__name__))}). Try again in a minute."
            )

    def explain_button(self, ack: Ack, respond: Respond, body: dict[str, Any]) -> None:
        ack()
        self._later(self._explain, _action_value(body), respond)

    def _explain(self, domain: str, respond: Respond) -> None:
        try:
            answer = self.ctx.answers.explain(domain) or notice(f"`{escape(domain)}` is gone.")
        except Exception:
            log.exception("explain %s failed", domain)
            answer = notice(":warning: Something went wrong on our side; try again.")
        respond(**reply(answer), replace_original=True)

    def just_ack(self, ack: Ack) -> None:
        """Link buttons (Open in CRM) still send an action; it only needs acknowledging."""
        ack()

    # -- Claim -------------------------------------------------------------------------------

    def claim_button(self, ack: Ack, respond: Respond, body: dict[str, Any]) -> None:
        ack()
        self._later(self._claim, _action_value(body), body, respond)

    def not_a_fit_button(self, ack: Ack, body: dict[str, Any]) -> None:
        ack()
        self._later(self._open_not_a_fit, _action_value(body), body)

    def lead_menu(self, ack: Ack, respond: Respond, body: dict[str, Any]) -> None:
        """A summary post's per-lead menu: `icp_claim:acme.com`, `icp_not_a_fit:acme.com`."""
        ack()
        action, _, domain = _action_value(body).partition(":")
        if action == CLAIM:
            self._later(self._claim, domain, body, respond)
        elif action == NOT_A_FIT:
            self._later(self._open_not_a_fit, domain, body)

    def _claim(self, domain: str, body: dict[str, Any], respond: Respond) -> None:
        user = str((body.get("user") or {}).get("id") or "")
        try:
            message = self._set_owner(domain, user)
        except Exception as exc:
            log.warning("claim of %s by %s failed", domain, user, exc_info=True)
            message = (
                f":warning: {self._crm_name(domain)} did not take the change "
                f"({escape(one_line(str(exc))[:200])}). Try again in a minute."
            )
            respond(text=message, response_type="ephemeral", replace_original=False)
            return
        if message is not None:
            respond(text=message, response_type="ephemeral", replace_original=False)
            return
        self._mark_claimed(domain, user, body)
        respond(
            text=f":white_check_mark: `{escape(domain)}` is yours in {self._crm_name(domain)}.",
            response_type="ephemeral",
            replace_original=False,
        )

    def _set_owner(self, domain: str, user: str) -> str | None:
        """Make the clicker the CRM owner; a message saying why not, or None when done."""
        person = self.ctx.directory.by_id(user)
        if person is None or not person.email:
            return ":warning: Slack does not show me your email (the app needs users:read.email)."
        with open_session(self.ctx.database) as session:
            account = repo.get_account(session=session, domain=domain)
        if account is None:
            return f"`{escape(domain)}` is not stored any more."
        crm = self.ctx.crms.get(account.crm)
        if crm is None or not account.crm_id:
            where = CRM_NAMES.get(account.crm, account.crm)
            return (
                f"`{escape(domain)}` comes from {escape(where)}: it cannot be assigned from Slack."
            )
        owner_id = crm.owner_for_email(person.email)
        if owner_id is None:
            return (
                f":warning: {CRM_NAMES.get(crm.name, crm.name)} has no user with your email "
                f"({escape(person.email)}); ask an admin to add you."
            )
        crm.set_owner(RecordKind.ACCOUNT, account.crm_id, owner_id)
        with open_session(self.ctx.database) as session:
            leads.claim_lead(session=session, domain=domain, user=user, now=self.ctx.clock())
        return None

    def _crm_name(self, domain: str) -> str:
        """The name of the CRM an account comes from, for messages about it."""
        with read_session(self.ctx.database) as session:
            account = repo.get_account(session=session, domain=domain)
        crm = account.crm if account is not None else ""
        return CRM_NAMES.get(crm, crm) or self.ctx.answers.crm_name

    def _mark_claimed(self, domain: str, user: str, body: dict[str, Any]) -> None:
        """Show the claim where the lead was posted: in the post itself, or its summary's thread."""
        channel = str((body.get("channel") or {}).get("id") or "")
        message = body.get("message") or {}
        ts = str(message.get("ts") or "")
        if not channel or not ts:
            return
        try:
            if body.get("actions", [{}])[0].get("action_id") == CLAIM:
                blocks = claimed_blocks(list(message.get("blocks") or []), user=user)
                text = str(message.get("text") or f"Claimed by <@{user}>")
                self.ctx.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
            else:
                self.ctx.client.chat_postMessage(
                    channel=channel,
                    thread_ts=ts,
                    text=f":raising_hand: <@{user}> claimed `{escape(domain)}`",
                )
        except Exception:
            log.warning("could not show the claim of %s in Slack", domain, exc_info=True)

    # -- Not a fit ---------------------------------------------------------------------------

    def _open_not_a_fit(self, domain: str, body: dict[str, Any]) -> None:
        with open_session(self.ctx.database) as session:
            account = repo.get_account(session=session, domain=domain)
        metadata = orjson.dumps(
            {
                "domain": domain,
                "channel": (body.get("channel") or {}).get("id"),
                "ts": (body.get("message") or {}).get("ts"),
            }
        ).decode()
        view = not_a_fit_modal(
            domain=domain, name=account.name if account else None, metadata=metadata
        )
        try:
            self.ctx.client.views_open(trigger_id=body["trigger_id"], view=view)
        except Exception:
            log.warning("could not open the Not a fit modal for %s", domain, exc_info=True)

    def not_a_fit_submitted(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = (view.get("state") or {}).get("values") or {}
        choice = ((values.get(REASON_BLOCK) or {}).get(REASON_ACTION) or {}).get("selected_option")
        reason = str((choice or {}).get("value") or "")
        note = str(((values.get(NOTE_BLOCK) or {}).get(NOTE_ACTION) or {}).get("value") or "")
        note = note.strip()[:MAX_NOTE]
        if reason not in REASONS:
            ack(response_action="errors", errors={REASON_BLOCK: "Choose a reason."})
            return
        if reason == "other" and not note:
            ack(response_action="errors", errors={NOTE_BLOCK: "Say what makes it not a fit."})
            return
        ack()
        user = str((body.get("user") or {}).get("id") or "")
        self._later(self._feedback, _metadata(view.get("private_metadata")), user, reason, note)

    def _feedback(self, meta: dict[str, Any], user: str, reason: str, note: str) -> None:
        domain = str(meta.get("domain") or "")
        self._store_feedback(domain, user, reason, note or None)
        if meta.get("channel") and meta.get("ts"):
            try:
                self.ctx.client.chat_postMessage(
                    channel=str(meta["channel"]),
                    thread_ts=str(meta["ts"]),
                    text=feedback_note(user=user, reason=reason, note=note or None),
                )
            except Exception:
                log.warning("could not note the feedback on %s in Slack", domain, exc_info=True)

    def _store_feedback(self, domain: str, user: str, reason: str, note: str | None) -> None:
        person = self.ctx.directory.by_id(user) if user else None
        with open_session(self.ctx.database) as session:
            latest = repo.latest_score(session=session, subject=Subject.ACCOUNT, key=domain)
            leads.add_feedback(
                session=session,
                values={
                    "account_domain": domain,
                    "kind": "not_a_fit",
                    "reason": reason,
                    "note": note,
                    "slack_user": user,
                    "user_email": person.email if person else None,
                    "tier": latest.tier if latest else None,
                    "score": latest.score if latest else None,
                    "icp_version": latest.icp_version if latest else None,
                    "created_at": self.ctx.clock(),
                },
            )

    # -- Events API --------------------------------------------------------------------------

    def once_per_event(
        self, body: dict[str, Any], next_: Callable[[], None]
    ) -> BoltResponse | None:
        """An event is handled once: Slack's retry of it (`X-Slack-Retry-Num`), which may
        reach another replica, is acknowledged and nothing more."""
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if isinstance(event_id, str):
            with open_session(self.ctx.database) as session:
                first = slack_events.first_delivery(
                    session=session, event_id=event_id, now=self.ctx.clock()
                )
            if not first:
                return BoltResponse(status=200, body="")
        next_()
        return None

    # -- App Home ----------------------------------------------------------------------------

    def home_opened(self, event: dict[str, Any]) -> None:
        if event.get("tab") in (None, "home"):
            self._later(self._publish_home, str(event.get("user") or ""))

    def _publish_home(self, user: str) -> None:
        self.ctx.client.views_publish(user_id=user, view=self._home(user))

    def _home(self, user: str) -> dict[str, Any]:
        person = self.ctx.directory.by_id(user)
        email = person.email if person else None
        owners = [email] if email else []
        for crm in self.ctx.crms.values():
            owner_id = crm.owner_for_email(email) if email else None
            owners += [owner_id] if owner_id else []
        with open_session(self.ctx.database) as session:
            decisions = leads.routed_to(session=session, owners=owners, user=user)
            accounts = repo.accounts_by_domain(
                session=session, domains=[d.account_domain for d in decisions]
            )
        routed = [
            Routed(
                d.account_domain,
                getattr(accounts.get(d.account_domain), "name", None),
                getattr(accounts.get(d.account_domain), "url", None),
                d.tier,
                d.score,
                d.channel,
                d.reason,
                d.decided_at,
                d.claimed_by == user,
            )
            for d in decisions
        ]
        return home_view(routed=routed, icp=self.ctx.answers.icp, now=self.ctx.clock())

    def on_error(self, error: Exception, body: dict[str, Any]) -> None:
        log.error("slack listener failed: %s", error, exc_info=error)


def _action_value(body: dict[str, Any]) -> str:
    """The first action's value: a button's `value` or a menu's selected option."""
    actions: Sequence[dict[str, Any]] = body.get("actions") or [{}]
    action = actions[0]
    selected = action.get("selected_option") or {}
    return str(action.get("value") or selected.get("value") or "")


def _metadata(text: object) -> dict[str, Any]:
    try:
        data = orjson.loads(str(text or "{}"))
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}
