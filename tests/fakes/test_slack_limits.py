"""The fake Slack refuses what Slack refuses, through the real slack_sdk client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.slack.client import make_client
from tests.fakes.slack import FakeSlack, SlackUser, block_problems


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(channels={"leads": "C01"}, users=[SlackUser("U1", "dana", "d@x.io")]) as fake:
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> WebClient:
    return make_client(token=slack.token, base_url=slack.api_url, retries=2)


def section(text: str) -> dict[str, object]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def error(call) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(SlackApiError) as caught:
        call()
    return str(caught.value.response["error"])


def test_block_kit_limits_are_enforced(client: WebClient) -> None:
    post = client.chat_postMessage
    assert (
        error(lambda: post(channel="C01", blocks=[section("x")] * 51, text="t")) == "invalid_blocks"
    )
    assert (
        error(lambda: post(channel="C01", blocks=[section("x" * 3001)], text="t"))
        == "invalid_blocks"
    )
    header = {"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}
    assert error(lambda: post(channel="C01", blocks=[header], text="t")) == "invalid_blocks"
    twice = {
        "type": "actions",
        "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "a"}, "action_id": "same"},
            {"type": "button", "text": {"type": "plain_text", "text": "b"}, "action_id": "same"},
        ],
    }
    assert error(lambda: post(channel="C01", blocks=[twice], text="t")) == "invalid_blocks"
    assert post(channel="C01", blocks=[section("x" * 3000)] * 50, text="t")["ok"]


def test_tokens_channels_and_threads(slack: FakeSlack, client: WebClient) -> None:
    stranger = WebClient(token="xoxb-wrong", base_url=slack.api_url)
    assert error(lambda: stranger.auth_test()) == "invalid_auth"
    posted = client.chat_postMessage(channel="#leads", text="hello")
    assert posted["channel"] == "C01"
    assert (
        error(lambda: client.chat_postMessage(channel="#nowhere", text="x")) == "channel_not_found"
    )
    reply = lambda ts: client.chat_postMessage(channel="C01", text="r", thread_ts=ts)  # noqa: E731
    assert reply(posted["ts"])["ok"]
    assert error(lambda: reply("1.000001")) == "thread_not_found"
    assert client.users_lookupByEmail(email="D@x.io")["user"]["id"] == "U1"
    assert error(lambda: client.users_lookupByEmail(email="no@x.io")) == "users_not_found"


def test_a_trigger_id_opens_one_modal(slack: FakeSlack, client: WebClient) -> None:
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Hi"}, "blocks": []}
    trigger = slack.trigger_id()
    assert client.views_open(trigger_id=trigger, view=modal)["ok"]
    assert error(lambda: client.views_open(trigger_id=trigger, view=modal)) == "invalid_trigger_id"
    long_title = {**modal, "title": {"type": "plain_text", "text": "t" * 25}}
    assert error(lambda: client.views_open(trigger_id=slack.trigger_id(), view=long_title)) == (
        "invalid_arguments"
    )


def test_a_429_is_waited_out_by_the_clients_retry_handler(
    slack: FakeSlack, client: WebClient
) -> None:
    slack.fail_next("chat.postMessage", status=429, retry_after=1, count=1)
    assert client.chat_postMessage(channel="C01", text="after the wait")["ok"]
    assert len(slack.calls_to("chat.postMessage")) == 2


def test_files_upload_v2_and_response_urls(slack: FakeSlack, client: WebClient) -> None:
    done = client.files_upload_v2(
        channel="C01",
        content=b"\x89PNG...",
        filename="chart.png",
        title="Tiers",
        initial_comment="This week",
    )
    assert done["ok"] and slack.files[0]["channel"] == "C01"
    assert next(iter(slack.uploads.values())) == b"\x89PNG..."
    webhook = WebhookClient(slack.response_url())
    assert webhook.send(text="hi", blocks=[section("ok")]).status_code == 200
    assert webhook.send(text="x", blocks=[section("x")] * 51).status_code == 400
    assert slack.responses[0].body["text"] == "hi"


def _message(**block: Any) -> list[dict[str, Any]]:
    return [block]


def _button(**extra: Any) -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": "Go"}, **extra}


def _image(**extra: Any) -> dict[str, Any]:
    return {"type": "image", "image_url": "https://x.io/a.png", "alt_text": "a", **extra}


@pytest.mark.parametrize(
    ("blocks", "problem"),
    [
        ([{"type": "divider"}] * 51, "51 blocks; at most 50"),
        (
            _message(type="header", text={"type": "plain_text", "text": "h" * 151}),
            "blocks[0].text: 151 characters; at most 150",
        ),
        (
            _message(type="header", text={"type": "mrkdwn", "text": "h"}),
            "blocks[0].text: must be plain_text",
        ),
        (
            _message(type="section", text={"type": "mrkdwn", "text": "s" * 3001}),
            "blocks[0].text: 3001 characters; at most 3000",
        ),
        (
            _message(type="section", text={"type": "mrkdwn", "text": ""}),
            "blocks[0].text: text must be a non-empty string",
        ),
        (_message(type="section"), "blocks[0]: a section needs text or fields"),
        (_message(type="section", fields=[]), "blocks[0]: a section needs text or fields"),
        (
            _message(type="section", fields=[{"type": "mrkdwn", "text": "f"}] * 11),
            "blocks[0].fields: 11; at most 10",
        ),
        (
            _message(type="context", elements=[{"type": "mrkdwn", "text": "c"}] * 11),
            "blocks[0].elements: 11; 1 to 10",
        ),
        (
            _message(
                type="actions", elements=[_button(text={"type": "plain_text", "text": "b" * 76})]
            ),
            "blocks[0].elements[0].text: 76 characters; at most 75",
        ),
        (
            _message(type="actions", elements=[_button(action_id="a" * 256)]),
            "blocks[0].elements[0].action_id: longer than 255 or not unique",
        ),
        (
            _message(type="actions", elements=[_button(url="https://x.io/" + "u" * 3000)]),
            "blocks[0].elements[0].url: 3013 characters; at most 3000",
        ),
        (
            _message(type="actions", elements=[_button(url="ftp://x")]),
            "blocks[0].elements[0].url: must be an http(s) URL",
        ),
        (
            _message(type="actions", elements=[_button(style="green")]),
            "blocks[0].elements[0].style must be primary or danger, not 'green'",
        ),
        (
            _message(type="actions", elements=[_button(action_id="a"), _button(action_id="a")]),
            "blocks[0].elements[1].action_id: longer than 255 or not unique",
        ),
        (
            [{"type": "divider", "block_id": "x"}, {"type": "divider", "block_id": "x"}],
            "blocks[1].block_id: longer than 255 or not unique",
        ),
        (_message(type="sectoin"), "blocks[0]: unknown block type"),
        (
            _message(type="context", elements=[_image(image_url="ftp://x/a.png")]),
            "blocks[0].elements[0].image_url: must be an http(s) URL",
        ),
        (
            _message(type="context", elements=[_image(alt_text="a" * 2001)]),
            "blocks[0].elements[0].alt_text: 2001 characters; at most 2000",
        ),
        (
            [{**_image(), "alt_text": None}],
            "blocks[0].alt_text is required",
        ),
        (
            _message(
                type="section",
                text={"type": "mrkdwn", "text": "s"},
                accessory=_image(image_url="https://x.io/" + "i" * 3000),
            ),
            "blocks[0].accessory.image_url: 3013 characters; at most 3000",
        ),
        (
            _message(
                type="input",
                label={"type": "plain_text", "text": "Why"},
                hint={"type": "plain_text", "text": "h" * 2001},
                element={"type": "plain_text_input", "action_id": "why"},
            ),
            "blocks[0].hint: 2001 characters; at most 2000",
        ),
    ],
)
def test_block_problems_name_the_broken_limit(blocks: list[dict[str, Any]], problem: str) -> None:
    assert block_problems(blocks) == [problem]


def test_block_problems_accept_exactly_the_limits() -> None:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3000}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 10},
        {
            "type": "actions",
            "elements": [
                _button(text={"type": "plain_text", "text": "b" * 75}, action_id="a" * 255),
                _button(url="https://x.io/" + "u" * (3000 - 13), action_id="b", style="danger"),
            ],
        },
        {**_image(alt_text="a" * 2000), "title": {"type": "plain_text", "text": "t" * 2000}},
    ]
    assert block_problems(blocks + [{"type": "divider"}] * 45) == []
