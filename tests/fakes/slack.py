"""A wire-level fake of the Slack Web API, for tests and benchmarks.

`slack_sdk.WebClient(base_url=fake.api_url)` talks to it over real HTTP on
127.0.0.1. It answers as Slack does (HTTP 200 with `ok: false` and an error
code for API errors; 429 with `Retry-After` when rate limited), accepts
arguments the ways the SDK sends them (JSON body, form body, query string),
and refuses what Slack refuses, Block Kit's limits first: a view that would
be rejected in production fails here. Response URLs and the files upload v2
flow are served too. Everything received is recorded for the test to read.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.server import TrackingServer

Json = dict[str, Any]

MESSAGE_BLOCKS, VIEW_BLOCKS = 50, 100
TEXT_TYPES = {"plain_text", "mrkdwn"}
BLOCK_TYPES = {
    "section",
    "header",
    "context",
    "actions",
    "divider",
    "image",
    "input",
    "rich_text",
    "file",
    "video",
}
ELEMENT_TYPES = {
    "button",
    "overflow",
    "static_select",
    "users_select",
    "conversations_select",
    "channels_select",
    "external_select",
    "multi_static_select",
    "datepicker",
    "image",
    "plain_text_input",
    "checkboxes",
    "radio_buttons",
    "timepicker",
    "email_text_input",
    "number_input",
    "url_text_input",
}
TRIGGER_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class SlackUser:
    id: str
    name: str
    email: str
    deleted: bool = False
    is_bot: bool = False
    real_name: str = ""

    def as_json(self) -> Json:
        return {
            "id": self.id,
            "name": self.name,
            "deleted": self.deleted,
            "is_bot": self.is_bot,
            "real_name": self.real_name or self.name,
            "team_id": "T0TEST",
            "profile": {"email": self.email, "real_name": self.real_name or self.name},
        }


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    params: Json
    headers: dict[str, str]
    at: float


@dataclass(slots=True)
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[Json]
    thread_ts: str | None = None


@dataclass(frozen=True, slots=True)
class Posted:
    """A POST to a response URL."""

    url: str
    body: Json


@dataclass(frozen=True, slots=True)
class View:
    method: str  # views.open, views.update, views.publish
    view: Json
    user_id: str | None = None


@dataclass(slots=True)
class _Fault:
    method: str
    status: int
    retry_after: float
    count: int


class Refused(Exception):
    """An API error: `ok: false` with this code (and details)."""

    def __init__(self, error: str, *details: str) -> None:
        super().__init__(error)
        self.error = error
        self.details = list(details)


@dataclass
class FakeSlack:
    """The fake; `with FakeSlack(...) as slack:` serves on `slack.api_url` for the block."""

    token: str = "xoxb-test-token"
    channels: Mapping[str, str] = field(default_factory=dict)  # name → id
    users: Iterable[SlackUser] = ()
    latency: float = 0.0
    app_token: str = "xapp-test-token"
    socket_url: str = ""  # what apps.connections.open hands out (a FakeSocketMode's url)
    post_limit: tuple[int, float] | None = None  # (burst, per seconds) per channel

    def __post_init__(self) -> None:
        self.url = ""
        self._lock = threading.RLock()
        self._users = {u.id: u for u in self.users}
        self._ids = dict(self.channels)
        self._names = {v: k for k, v in self._ids.items()}
        self.calls: list[Call] = []
        self._messages: dict[tuple[str, str], Message] = {}
        self.responses: list[Posted] = []
        self.views: list[View] = []
        self.uploads: dict[str, bytes] = {}
        self.files: list[Json] = []
        self._triggers: dict[str, float] = {}
        self._faults: list[_Fault] = []
        self._posted: dict[str, list[float]] = {}
        self._clock = 1_700_000_000.0
        self._serial = 0
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = TrackingServer(handler)  # a client gone before a slow answer is not news
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    # -- for tests ---------------------------------------------------------------------------

    def add_channel(self, name: str, id: str) -> None:
        with self._lock:
            self._ids[name] = id
            self._names[id] = name

    def remove_channel(self, name: str) -> None:
        """The channel is gone (archived, renamed): posts to it get `channel_not_found`."""
        with self._lock:
            self._names.pop(self._ids.pop(name, ""), None)

    def response_url(self) -> str:
        with self._lock:
            self._serial += 1
            return f"{self.url}/_response/{self._serial}"

    def trigger_id(self) -> str:
        with self._lock:
            self._serial += 1
            trigger = f"{self._serial}.42.{self._serial:08x}"
            self._triggers[trigger] = time.monotonic()
            return trigger

    def fail_next(
        self, method: str, *, status: int = 429, retry_after: float = 1, count: int = 1
    ) -> None:
        with self._lock:
            self._faults.append(_Fault(method, status, retry_after, count))

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def messages(self, channel: str | None = None) -> list[Message]:
        """Messages as they stand now (updates applied), oldest first."""
        wanted = self._ids.get(channel.lstrip("#"), channel) if channel else None
        with self._lock:
            found = [m for m in self._messages.values() if wanted in (None, m.channel)]
        return sorted(found, key=lambda m: float(m.ts))

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self._messages.clear()
            self.responses.clear()
            self.views.clear()
            self._faults.clear()

    # -- the API -----------------------------------------------------------------------------

    def answer(self, method: str, params: Json, headers: dict[str, str]) -> tuple[int, Json, dict]:
        """(status, body, extra headers) for one API call."""
        with self._lock:
            self.calls.append(Call(method, params, headers, time.time()))
            fault = self._fault(method)
        if fault is not None:
            retry = {"Retry-After": str(int(fault.retry_after))} if fault.status == 429 else {}
            error = "ratelimited" if fault.status == 429 else "internal_error"
            return fault.status, {"ok": False, "error": error}, retry
        token = (headers.get("authorization") or "").removeprefix("Bearer ") or params.get("token")
        if not token:
            return 200, {"ok": False, "error": "not_authed"}, {}
        if method == "apps.connections.open":  # the one method that takes the app-level token
            if token != self.app_token or not self.socket_url:
                return 200, {"ok": False, "error": "invalid_auth"}, {}
            return 200, {"ok": True, "url": self.socket_url}, {}
        if token != self.token:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        action = _METHODS.get(method)
        if action is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        limited = self._over_post_limit(method, params)
        if limited:
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"}
        try:
            with self._lock:
                return 200, {"ok": True, **action(self, params)}, {}
        except Refused as refused:
            body: Json = {"ok": False, "error": refused.error}
            if refused.details:
                body["errors"] = refused.details
                body["response_metadata"] = {"messages": [f"[ERROR] {d}" for d in refused.details]}
            return 200, body, {}

    def _fault(self, method: str) -> _Fault | None:
        for fault in self._faults:
            if fault.method == method and fault.count > 0:
                fault.count -= 1
                return fault
        return None

    def _over_post_limit(self, method: str, params: Json) -> bool:
        if self.post_limit is None or method != "chat.postMessage":
            return False
        burst, seconds = self.post_limit
        now = time.monotonic()
        with self._lock:
            recent = [
                t for t in self._posted.get(str(params.get("channel")), []) if now - t < seconds
            ]
            if len(recent) >= burst:
                return True
            self._posted[str(params.get("channel"))] = [*recent, now]
        return False

    def _channel(self, value: object) -> str:
        name = str(value or "").lstrip("#")
        if name in self._names:
            return name
        if name in self._ids:
            return self._ids[name]
        raise Refused("channel_not_found")

    def _ts(self) -> str:
        self._clock += 0.0001
        return f"{self._clock:.6f}"

    def _auth_test(self, params: Json) -> Json:
        return {
            "url": "https://acme-sales.slack.com/",
            "team": "Acme Sales",
            "user": "icpbot",
            "team_id": "T0TEST",
            "user_id": "U0BOT",
            "bot_id": "B0BOT",
        }

    def _post_message(self, params: Json) -> Json:
        channel = self._channel(params.get("channel"))
        text, blocks = _message_content(params)
        thread = params.get("thread_ts") or None
        if thread and (channel, str(thread)) not in self._messages:
            raise Refused("thread_not_found")
        message = Message(channel, self._ts(), text, blocks, str(thread) if thread else None)
        self._messages[(channel, message.ts)] = message
        return {"channel": channel, "ts": message.ts, "message": _shown(message)}

    def _update(self, params: Json) -> Json:
        channel = self._channel(params.get("channel"))
        key = (channel, str(params.get("ts")))
        if key not in self._messages:
            raise Refused("message_not_found")
        text, blocks = _message_content(params)
        self._messages[key].text, self._messages[key].blocks = text, blocks
        return {"channel": channel, "ts": key[1], "text": text}

    def _ephemeral(self, params: Json) -> Json:
        self._channel(params.get("channel"))
        if str(params.get("user")) not in self._users:
            raise Refused("user_not_in_channel")
        _message_content(params)
        return {"message_ts": self._ts()}

    def _permalink(self, params: Json) -> Json:
        channel = self._channel(params.get("channel"))
        ts = str(params.get("message_ts"))
        if (channel, ts) not in self._messages:
            raise Refused("message_not_found")
        return {
            "channel": channel,
            "permalink": f"https://acme-sales.slack.com/archives/{channel}/p{ts}",
        }

    def _views_open(self, params: Json) -> Json:
        trigger = str(params.get("trigger_id") or "")
        issued = self._triggers.pop(trigger, None)
        if issued is None:
            raise Refused("invalid_trigger_id")
        if time.monotonic() - issued > TRIGGER_SECONDS:
            raise Refused("expired_trigger_id")
        view = _view(params.get("view"), "modal")
        self.views.append(View("views.open", view))
        return {"view": {"id": f"V{len(self.views):08d}", **view}}

    def _views_update(self, params: Json) -> Json:
        view = _view(params.get("view"), "modal")
        self.views.append(View("views.update", view))
        return {"view": view}

    def _views_publish(self, params: Json) -> Json:
        user = str(params.get("user_id") or "")
        if user not in self._users:
            raise Refused("user_not_found")
        view = _view(params.get("view"), "home")
        self.views.append(View("views.publish", view, user))
        return {"view": view}

    def _lookup_by_email(self, params: Json) -> Json:
        email = str(params.get("email") or "").lower()
        user = next((u for u in self._users.values() if u.email.lower() == email), None)
        if user is None:
            raise Refused("users_not_found")
        return {"user": user.as_json()}

    def _users_info(self, params: Json) -> Json:
        user = self._users.get(str(params.get("user")))
        if user is None:
            raise Refused("user_not_found")
        return {"user": user.as_json()}

    def _users_list(self, params: Json) -> Json:
        return {"members": [u.as_json() for u in self._users.values()]}

    def _conversation(self, params: Json) -> Json:
        channel = self._channel(params.get("channel"))
        return {"channel": {"id": channel, "name": self._names.get(channel, channel)}}

    def _open_conversation(self, params: Json) -> Json:
        """A direct message with one user: its channel id (`D` + the user id here), made once
        and then returned again, as Slack returns the existing DM."""
        users = [u for u in str(params.get("users") or "").split(",") if u]
        if len(users) != 1 or users[0] not in self._users:
            raise Refused("user_not_found" if users else "invalid_arguments")
        channel = f"D{users[0]}"
        self._ids.setdefault(f"dm-{users[0]}", channel)
        self._names.setdefault(channel, f"dm-{users[0]}")
        return {"channel": {"id": channel}}

    def _upload_url(self, params: Json) -> Json:
        if not params.get("filename") or not str(params.get("length") or "").isdigit():
            raise Refused("invalid_arguments", "filename and length are required")
        self._serial += 1
        file_id = f"F{self._serial:08d}"
        self.uploads[file_id] = b""
        return {"upload_url": f"{self.url}/_upload/{file_id}", "file_id": file_id}

    def _complete_upload(self, params: Json) -> Json:
        files = _decoded(params.get("files"))
        if not isinstance(files, list) or not files:
            raise Refused("invalid_arguments", "files is required")
        shared = []
        for item in files:
            if item.get("id") not in self.uploads or not self.uploads[item["id"]]:
                raise Refused("file_not_found")
            record = {
                "id": item["id"],
                "title": item.get("title"),
                "channel": params.get("channel_id"),
                "thread_ts": params.get("thread_ts"),
                "initial_comment": params.get("initial_comment"),
            }
            self.files.append(record)
            shared.append({"id": item["id"], "title": item.get("title")})
        return {"files": shared}


_METHODS = {
    "auth.test": FakeSlack._auth_test,
    "chat.postMessage": FakeSlack._post_message,
    "chat.update": FakeSlack._update,
    "chat.postEphemeral": FakeSlack._ephemeral,
    "chat.getPermalink": FakeSlack._permalink,
    "views.open": FakeSlack._views_open,
    "views.update": FakeSlack._views_update,
    "views.publish": FakeSlack._views_publish,
    "users.lookupByEmail": FakeSlack._lookup_by_email,
    "users.info": FakeSlack._users_info,
    "users.list": FakeSlack._users_list,
    "conversations.info": FakeSlack._conversation,
    "conversations.open": FakeSlack._open_conversation,
    "files.getUploadURLExternal": FakeSlack._upload_url,
    "files.completeUploadExternal": FakeSlack._complete_upload,
}


# -- Block Kit checks ------------------------------------------------------------------------


def _decoded(value: object) -> Any:
    """A JSON argument, sent as JSON or as a JSON string inside a form."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise Refused("invalid_arguments", f"not JSON: {exc}") from exc
    return value


def _message_content(params: Json) -> tuple[str, list[Json]]:
    text = str(params.get("text") or "")
    blocks = _decoded(params.get("blocks")) or []
    if not text and not blocks:
        raise Refused("no_text")
    if len(text) > 40_000:
        raise Refused("msg_too_long")
    problems = block_problems(blocks)
    if problems:
        raise Refused("invalid_blocks", *problems)
    return text, blocks


def _shown(message: Message) -> Json:
    return {"type": "message", "ts": message.ts, "text": message.text, "blocks": message.blocks}


def _view(raw: object, kind: str) -> Json:
    view = _decoded(raw)
    if not isinstance(view, dict) or view.get("type") != kind:
        raise Refused("invalid_arguments", f"view must be of type {kind}")
    problems = block_problems(view.get("blocks") or [], max_blocks=VIEW_BLOCKS)
    for key in ("title", "submit", "close"):
        if key in view:
            problems += _text(view[key], f"view.{key}", 24, plain=True)
    if kind == "modal" and "title" not in view:
        problems.append("view.title is required")
    if len(str(view.get("callback_id") or "")) > 255:
        problems.append("view.callback_id longer than 255")
    if len(str(view.get("private_metadata") or "")) > 3000:
        problems.append("view.private_metadata longer than 3000")
    if problems:
        raise Refused("invalid_arguments", *problems)
    return view


def block_problems(blocks: object, *, max_blocks: int = MESSAGE_BLOCKS) -> list[str]:
    """Everything Slack would refuse in these blocks, each said with where it is.

    What `chat.postMessage`, `chat.update` and response URLs check (50 blocks), and
    `views.open` / `views.publish` (`max_blocks=VIEW_BLOCKS`); [] when Slack takes them.
    Tests of the views call it directly: a view is valid when it returns [].
    """
    if not isinstance(blocks, list):
        return ["blocks must be an array"]
    problems = [f"{len(blocks)} blocks; at most {max_blocks}"] if len(blocks) > max_blocks else []
    block_ids: set[str] = set()
    action_ids: set[str] = set()
    for index, block in enumerate(blocks):
        where = f"blocks[{index}]"
        if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
            problems.append(f"{where}: unknown block type")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if len(str(block_id)) > 255 or block_id in block_ids:
                problems.append(f"{where}.block_id: longer than 255 or not unique")
            block_ids.add(block_id)
        problems += _BLOCK_CHECKS.get(block["type"], lambda b, w, a: [])(block, where, action_ids)
    return problems


def _text(obj: object, where: str, limit: int, *, plain: bool = False) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in TEXT_TYPES:
        return [f"{where}: a text object needs type plain_text or mrkdwn"]
    if plain and obj["type"] != "plain_text":
        return [f"{where}: must be plain_text"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"{where}: text must be a non-empty string"]
    return [f"{where}: {len(text)} characters; at most {limit}"] if len(text) > limit else []


def _section(block: Json, where: str, action_ids: set[str]) -> list[str]:
    problems = []
    if "text" not in block and not block.get("fields"):
        problems.append(f"{where}: a section needs text or fields")
    if "text" in block:
        problems += _text(block["text"], f"{where}.text", 3000)
    fields = block.get("fields") or []
    if len(fields) > 10:
        problems.append(f"{where}.fields: {len(fields)}; at most 10")
    for i, item in enumerate(fields):
        problems += _text(item, f"{where}.fields[{i}]", 2000)
    if "accessory" in block:
        problems += _element(block["accessory"], f"{where}.accessory", action_ids)
    return problems


def _header(block: Json, where: str, action_ids: set[str]) -> list[str]:
    return _text(block.get("text"), f"{where}.text", 150, plain=True)


def _context(block: Json, where: str, action_ids: set[str]) -> list[str]:
    elements = block.get("elements") or []
    problems = (
        [f"{where}.elements: {len(elements)}; 1 to 10"] if not 1 <= len(elements) <= 10 else []
    )
    for i, item in enumerate(elements):
        if isinstance(item, dict) and item.get("type") == "image":
            problems += _image(item, f"{where}.elements[{i}]")
        else:
            problems += _text(item, f"{where}.elements[{i}]", 3000)
    return problems


def _actions(block: Json, where: str, action_ids: set[str]) -> list[str]:
    elements = block.get("elements") or []
    problems = (
        [f"{where}.elements: {len(elements)}; 1 to 25"] if not 1 <= len(elements) <= 25 else []
    )
    for i, item in enumerate(elements):
        problems += _element(item, f"{where}.elements[{i}]", action_ids)
    return problems


def _input(block: Json, where: str, action_ids: set[str]) -> list[str]:
    problems = _text(block.get("label"), f"{where}.label", 2000, plain=True)
    if "hint" in block:
        problems += _text(block["hint"], f"{where}.hint", 2000, plain=True)
    return problems + _element(block.get("element"), f"{where}.element", action_ids)


def _image_block(block: Json, where: str, action_ids: set[str]) -> list[str]:
    problems = _image(block, where)
    if "title" in block:
        problems += _text(block["title"], f"{where}.title", 2000, plain=True)
    return problems


def _image(image: Json, where: str) -> list[str]:
    """An image block or element: its picture (a URL or a Slack file) and its alt text."""
    problems = [] if "slack_file" in image else _url(image.get("image_url"), f"{where}.image_url")
    alt_text = image.get("alt_text")
    if not isinstance(alt_text, str):
        problems.append(f"{where}.alt_text is required")
    elif len(alt_text) > 2000:
        problems.append(f"{where}.alt_text: {len(alt_text)} characters; at most 2000")
    return problems


def _url(url: object, where: str) -> list[str]:
    # Slack documents only a URL's length; requiring http(s) is this fake's stricter reading.
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        return [f"{where}: must be an http(s) URL"]
    return [f"{where}: {len(url)} characters; at most 3000"] if len(url) > 3000 else []


def _element(element: object, where: str, action_ids: set[str]) -> list[str]:
    if not isinstance(element, dict) or element.get("type") not in ELEMENT_TYPES:
        return [f"{where}: unknown element type"]
    problems = []
    action_id = element.get("action_id")
    if action_id is not None:
        if len(str(action_id)) > 255 or action_id in action_ids:
            problems.append(f"{where}.action_id: longer than 255 or not unique")
        action_ids.add(action_id)
    kind = element["type"]
    if kind == "button":
        problems += _text(element.get("text"), f"{where}.text", 75, plain=True)
        if len(str(element.get("value") or "")) > 2000:
            problems.append(f"{where}.value longer than 2000")
        if "url" in element:
            problems += _url(element["url"], f"{where}.url")
        style = element.get("style")
        if style is not None and style not in ("primary", "danger"):
            problems.append(f"{where}.style must be primary or danger, not {style!r}")
    if kind == "image":
        problems += _image(element, where)
    if kind in ("overflow", "static_select"):
        options = element.get("options") or []
        low, high = (2, 5) if kind == "overflow" else (1, 100)
        if not low <= len(options) <= high:
            problems.append(f"{where}.options: {len(options)}; {low} to {high}")
        for i, option in enumerate(options):
            problems += _text(option.get("text"), f"{where}.options[{i}].text", 75, plain=True)
            if len(str(option.get("value") or "")) > 150:
                problems.append(f"{where}.options[{i}].value longer than 150")
    if kind == "plain_text_input" and int(element.get("max_length") or 0) > 3000:
        problems.append(f"{where}.max_length over 3000")
    return problems


_BLOCK_CHECKS = {
    "section": _section,
    "header": _header,
    "context": _context,
    "actions": _actions,
    "input": _input,
    "image": _image_block,
}


# -- HTTP ------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    fake: FakeSlack
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        if self.fake.latency:
            time.sleep(self.fake.latency)
        parts = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if parts.path.startswith("/_response/"):
            return self._response_url(raw)
        if parts.path.startswith("/_upload/"):
            return self._upload(parts.path.rsplit("/", 1)[1], raw)
        if not parts.path.startswith("/api/"):
            return self._send(404, {"ok": False, "error": "not_found"})
        params: Json = dict(parse_qsl(parts.query))
        kind = self.headers.get("Content-Type") or ""
        if raw and "json" in kind:
            params.update(json.loads(raw))
        elif raw:
            params.update(parse_qsl(raw.decode()))
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, body, extra = self.fake.answer(parts.path.removeprefix("/api/"), params, headers)
        self._send(status, body, extra)

    def _response_url(self, raw: bytes) -> None:
        try:
            body = json.loads(raw)
            if "blocks" in body:
                problems = block_problems(body["blocks"])
                if problems:
                    return self._send(
                        400, {"ok": False, "error": "invalid_blocks", "errors": problems}
                    )
            if not body.get("text") and not body.get("blocks") and not body.get("delete_original"):
                return self._send(400, {"ok": False, "error": "no_text"})
        except json.JSONDecodeError:
            return self._send(400, {"ok": False, "error": "invalid_payload"})
        with self.fake._lock:
            self.fake.responses.append(Posted(self.path, body))
        self._send(200, None)

    def _upload(self, file_id: str, raw: bytes) -> None:
        with self.fake._lock:
            if file_id not in self.fake.uploads:
                return self._send(404, None)
            self.fake.uploads[file_id] = raw
        self._send(200, None)

    def _send(self, status: int, body: Json | None, extra: Mapping[str, str] | None = None) -> None:
        data = b"ok" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if body is None else "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def main() -> None:
    """Serve standalone for benchmarks; prints the api_url, stops on SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--token", default="xoxb-test-token")
    parser.add_argument("--channel", action="append", default=[], help="name=ID")
    parser.add_argument("--user", action="append", default=[], help="ID:email")
    args = parser.parse_args()
    channels = dict(c.split("=", 1) for c in args.channel)
    users = [
        SlackUser(u.split(":", 1)[0], u.split(":", 1)[0], u.split(":", 1)[1]) for u in args.user
    ]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with FakeSlack(token=args.token, channels=channels, users=users) as fake:
        print(fake.api_url, flush=True)  # noqa: T201
        stop.wait()


if __name__ == "__main__":
    main()
