"""`icpbot serve` starting: what keeps it from serving is said once, by setting name, with
what to do next, and within seconds.

The order is the cheapest first: the port (taken, or an address this machine
does not have), the database (opened and migrated), the settings each part
needs, then one short call each to Slack and Salesforce. Only then does the
service start; a problem at any step ends the start with exit code 1 and no
traceback. The libraries' own start-up chatter (every migration step,
APScheduler's "Scheduler started") is left to `ICPBOT_LOG_LEVEL=DEBUG`.
"""

from __future__ import annotations

import errno
import gc
import logging
import socket
from urllib.parse import urlsplit

import requests
from rich.console import Console
from rich.markup import escape

from bot.config import Config
from bot.intake.web import serve, signature_base
from bot.service import Service, build_service, reload_on_hangup
from bot.settings import Settings, given
from bot.slack.reach import slack_problem
from bot.store.db import DatabaseUnavailable
from bot.store.repo import IcpVersionConflict
from bot.sync.connect import SALESFORCE_README, MissingSettings, salesforce_given
from integrations.domains import load_now
from integrations.salesforce import SalesforceCrm
from integrations.salesforce import client_error as salesforce_client_error
from integrations.unreachable import why_unreachable

CHATTY = ("alembic", "apscheduler")  # INFO lines that say nothing a user acts on
SALESFORCE_CHECK = (3.0, 10.0)  # connect, read (seconds): the org's limits answer in one


class CannotStart(Exception):
    """What keeps `serve` from starting, in words for the terminal."""


def run(*, config: Config, err: Console) -> int:
    """Serve until interrupted; exit code 1 with one message when something keeps it from
    starting."""
    settings = Settings()
    _log_to_stderr(settings.log_level)
    try:
        listener = _listen(settings.host, settings.port)
    except CannotStart as exc:
        return _refuse(err, str(exc))
    with listener:
        try:
            service = _checked_service(settings, config)
        except (CannotStart, MissingSettings, DatabaseUnavailable, IcpVersionConflict) as exc:
            return _refuse(err, str(exc))
        host, port = listener.getsockname()[:2]
        service.start()
        reload_on_hangup(service)
        _freeze_start_up_heap()
        err.print(f"icpbot serving on http://{host}:{port}", highlight=False)
        if "hubspot" in service.pipelines:
            base = signature_base(settings.public_url, settings.trusted_proxies)
            err.print(base, highlight=False)
        try:
            serve(
                service.app,
                host=host,
                port=port,
                sock=listener,
                trusted_proxies=settings.trusted_proxies,
            )
        finally:
            service.stop()
    return 0


def _freeze_start_up_heap() -> None:
    """Leave what start-up built out of the garbage collector's full passes from now on.

    The libraries' modules, the config and the app (some 250,000 objects) live as long as
    the process, yet every full pass walked them all: 100-150 ms on a small machine, with
    the whole process stopped, so the requests in flight then were the slowest answers.
    Garbage is collected first, so nothing dead is kept; what scoring reads on first use
    (the Public Suffix List, country names) is read first, to be kept too.
    """
    load_now()
    gc.collect()
    gc.freeze()


def _refuse(err: Console, message: str) -> int:
    err.print(f"[red]error[/red] {escape(message)}", soft_wrap=True)
    return 1


def _log_to_stderr(level: str) -> None:
    """The service's own log lines at `level`; the chatty libraries' only from WARNING,
    unless DEBUG asks for everything."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    numeric = logging.getLevelNamesMapping()[level]
    if numeric > logging.DEBUG:
        for name in CHATTY:
            logging.getLogger(name).setLevel(max(logging.WARNING, numeric))


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything else starts, so a port in use is said
    first and at once rather than after the database and the checks."""
    try:
        return socket.create_server((host, port))  # port 0: any free port
    except socket.gaierror as exc:
        raise CannotStart(
            f"ICPBOT_HOST: the name {host} could not be resolved ({exc.strerror}).\n"
            "  Next: set ICPBOT_HOST to an address of this machine: 127.0.0.1, or 0.0.0.0 "
            "in a container."
        ) from exc
    except OSError as exc:
        raise CannotStart(_bind_problem(host, port, exc)) from exc


def _bind_problem(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"ICPBOT_PORT: port {port} on {host} is already in use (another icpbot serve?).\n"
            "  Next: stop what listens there, or set ICPBOT_PORT to a free port (0 takes any)."
        )
    if exc.errno == errno.EACCES:
        return (
            f"ICPBOT_PORT: port {port} needs privileges this process does not have.\n"
            "  Next: set ICPBOT_PORT above 1023 (3000 is the default)."
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"ICPBOT_HOST: {host} is not an address of this machine.\n"
            "  Next: set ICPBOT_HOST to 127.0.0.1, or 0.0.0.0 in a container."
        )
    return f"ICPBOT_HOST, ICPBOT_PORT: cannot listen on {host}:{port}: {exc.strerror or exc}."


def _checked_service(settings: Settings, config: Config) -> Service:
    """The service built, and Slack and Salesforce asked once whether they take icpbot."""
    service = build_service(settings, config)
    try:
        if service.client is not None and settings.slack_bot_token is not None:
            token = settings.slack_bot_token.get_secret_value()
            app = settings.slack_app_token.get_secret_value() if settings.slack_app_token else None
            problem = slack_problem(token=token, api_url=settings.slack_api_url, app_token=app)
            if problem:
                raise CannotStart(problem)
        salesforce = service.pipelines.get("salesforce")
        if salesforce is not None and isinstance(salesforce.crm, SalesforceCrm):
            problem = _salesforce_problem(salesforce.crm, settings)
            if problem:
                raise CannotStart(problem)
    except CannotStart:
        service.database.dispose()
        raise
    return service


def _salesforce_problem(crm: SalesforceCrm, settings: Settings) -> str | None:
    """Why Salesforce cannot be used: it refuses icpbot, or cannot be reached; else None."""
    try:
        crm.check(timeout=SALESFORCE_CHECK)
    except Exception as exc:
        refused = salesforce_client_error(exc)
        if refused is not None:
            given = ", ".join(salesforce_given(settings))
            return (
                f"Salesforce: {refused}.\n"
                f"  Next: check the way in that is set ({given}); README: {SALESFORCE_README}."
            )
        if not isinstance(exc, OSError):  # requests' errors are OSErrors too
            raise
        return _salesforce_unreached(exc, settings)
    return None


def _salesforce_unreached(exc: OSError, settings: Settings) -> str:
    """The URL that could not be reached, why, and the setting that points there."""
    request = exc.request if isinstance(exc, requests.RequestException) else None
    url = str(request.url).partition("?")[0] if request is not None and request.url else ""
    why = why_unreachable(exc, url=url, timeout=SALESFORCE_CHECK[1])
    if given(settings, "salesforce_access_token"):
        setting = "SALESFORCE_INSTANCE_URL"
    elif urlsplit(url).hostname == urlsplit(settings.salesforce_login_url).hostname:
        setting = "SALESFORCE_LOGIN_URL"
    else:
        setting = "the instance URL Salesforce's login answered with"
    return (
        f"Salesforce could not be reached at {url or 'its address'}: {why}.\n"
        "  This is about reaching Salesforce, not about its credentials.\n"
        f"  Next: check {setting}, then this machine's network and proxy (HTTPS_PROXY)."
    )
