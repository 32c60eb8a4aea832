"""Keys and URLs as users paste them: whitespace stripped, bad ones refused, never echoed."""

from __future__ import annotations

import logging
import traceback

import httpx2
import pytest
from _provider_kit import Wire

from vex_llm import AnthropicProvider, LlmError, LlmRequest, OpenAIProvider
from vex_llm.providers import mask_url, validate_base_url
from vex_llm.providers._base import HttpProvider
from vex_llm.providers._http import Boundary
from vex_llm.testing import FakeLLMServer, Fault

KEY = "sk-test-7f3a9c1e5b2d4f6a8c0e"
SECRET = "urlsecret-4b1d9e7a2c"
REQUEST = LlmRequest.from_prompt("hello")


def texts_of(error: BaseException) -> list[str]:
    """Every way an error can be printed or inspected, its whole chain included."""
    out = ["".join(traceback.format_exception(error))]
    seen: BaseException | None = error
    while seen is not None:
        out += [str(seen), repr(seen), *map(repr, seen.args)]
        out += [str(note) for note in getattr(seen, "__notes__", ())]
        seen = seen.__cause__ or seen.__context__
    return out


def build(wire: Wire, base_url: str, **options: object) -> HttpProvider:
    """A provider of ``wire`` with the given base URL and options."""
    if wire == "openai":
        return OpenAIProvider("fake-gpt", base_url=base_url, **options)  # type: ignore[arg-type]
    return AnthropicProvider("fake-claude", base_url=base_url, **options)  # type: ignore[arg-type]


def root(wire: Wire, server: FakeLLMServer) -> str:
    """The fake server's API root for ``wire``."""
    return server.base_url if wire == "openai" else server.anthropic_base_url


async def call(provider: HttpProvider, *, streamed: bool) -> None:
    """Call the provider one way or the other."""
    if streamed:
        [chunk async for chunk in provider.stream(REQUEST)]
    else:
        await provider.complete(REQUEST)


def key_env(wire: Wire) -> str:
    """The variable each provider reads its key from."""
    return "OPENAI_API_KEY" if wire == "openai" else "ANTHROPIC_API_KEY"


@pytest.mark.fake_server
@pytest.mark.parametrize("pasted", [KEY + "\n", f"  {KEY}\r\n", f"\t{KEY} "])
@pytest.mark.parametrize("source", ["env", "param"])
async def test_key_with_surrounding_whitespace_is_stripped(
    server: FakeLLMServer,
    wire: Wire,
    pasted: str,
    source: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A key read from a file with its newline works; a refusal never shows it."""
    if source == "env":
        monkeypatch.setenv(key_env(wire), pasted)
        options: dict[str, object] = {}
    else:
        options = {"api_key": pasted}
    async with build(wire, root(wire, server), **options) as provider:
        answer = await provider.complete(REQUEST)
        assert answer.content
        server.inject(Fault.error(401, message=f"bad key {KEY}"), times=1)
        with pytest.raises(LlmError) as info:
            await provider.complete(REQUEST)
    assert "was refused" in str(info.value)
    for text in texts_of(info.value):
        assert KEY not in text


@pytest.mark.parametrize(
    "bad", [f"{KEY}é", f"sk-“{KEY}”", f"{KEY[:5]}\x01{KEY[5:]}", f"{KEY[:5]}\n{KEY[5:]}"]
)
@pytest.mark.parametrize("source", ["env", "param"])
def test_unsendable_key_is_refused_when_built(
    wire: Wire, bad: str, source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key no HTTP header can carry fails at construction, naming its source, not showing it."""
    if source == "env":
        monkeypatch.setenv(key_env(wire), bad)
        options: dict[str, object] = {}
        named = key_env(wire)
    else:
        options = {"api_key": bad}
        named = "api_key="
    with pytest.raises(ValueError, match="HTTP header") as info:
        build(wire, "http://127.0.0.1:9/v1", **options)
    assert named in str(info.value)
    for text in texts_of(info.value):
        assert KEY[5:] not in text
        assert KEY[:12] not in text


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (f"http://user:{SECRET}@h/v1", "http://***:***@h/v1"),
        (f"https://{SECRET}@h", "https://***@h"),
        (
            f"http://h/v1?api-version=2024&api-key={SECRET}",
            "http://h/v1?api-version=2024&api-key=***",
        ),
        (f"http://h?key={SECRET}&token={SECRET}#x", "http://h?key=***&token=***#x"),
        (f"http://h?API_KEY={SECRET}", "http://h?API_KEY=***"),
        (f"http://u:p@ss:{SECRET}@h:80/x?sig={SECRET}", "http://***:***@h:80/x?sig=***"),
        ("http://h/v1?model=gpt", "http://h/v1?model=gpt"),
        (f"not a url {SECRET}", f"not a url {SECRET}"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    """Userinfo and secret query values are masked; everything else is kept."""
    assert mask_url(url) == masked


@pytest.mark.parametrize(
    "url",
    [
        f"ftp://user:{SECRET}@h/v1",
        f"http://user:{SECRET}@h:99999/v1",
        f"http://user:{SECRET}@h:0/v1",
        f"http://user:{SECRET}@h:-1/v1",
        f"http://user:{SECRET}@[::1/v1",
        f"http://h:abc/v1?api-key={SECRET}",
        f"user:{SECRET}@h/v1",
        f"http:///v1?key={SECRET}",
    ],
)
def test_bad_base_url_is_refused_with_credentials_masked(wire: Wire, url: str) -> None:
    """A bad base URL fails when built; the message names base_url and masks credentials."""
    with pytest.raises(ValueError, match="base_url") as info:
        build(wire, url, api_key=KEY)
    for text in texts_of(info.value):
        assert SECRET not in text
        assert KEY not in text
    assert "***" in str(info.value)
    with pytest.raises(ValueError, match="MY_URL"):
        validate_base_url(url, parameter="MY_URL")


def test_valid_base_url_is_parsed() -> None:
    """A good base URL comes back parsed."""
    assert validate_base_url("https://api.example.com:8443/v1").port == 8443


@pytest.mark.fake_server
@pytest.mark.parametrize(
    "fault",
    [
        Fault.error(401, message=f"bad credentials user:{SECRET} api-key={SECRET}"),
        Fault.error(400, message=f"unknown parameter key={SECRET}"),
        Fault.error(500),
        Fault.reset(),
        Fault.stream_error("overloaded_error", after_chunks=1),
        Fault.malformed(),
    ],
    ids=["401-echo", "400-echo", "500", "reset", "stream-error", "malformed"],
)
@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("where", ["userinfo", "query"])
async def test_url_credentials_never_leak(
    server: FakeLLMServer,
    wire: Wire,
    fault: Fault,
    streamed: bool,
    where: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Credentials in base_url are in no repr, url, error, chain or log record (DEBUG on)."""
    caplog.set_level(logging.DEBUG)
    base = root(wire, server)
    if where == "userinfo":
        base = base.replace("http://", f"http://user:{SECRET}@")
    else:
        base += f"?api-version=1&api-key={SECRET}"
    server.inject(fault)
    async with build(wire, base, api_key=KEY) as provider:
        assert SECRET not in repr(provider)
        assert SECRET not in provider.url
        with pytest.raises(LlmError) as info:
            await call(provider, streamed=streamed)
    for text in texts_of(info.value):
        assert SECRET not in text
        assert KEY not in text
    assert caplog.records, "DEBUG logging captured nothing: the test would prove nothing"
    for record in caplog.records:
        if record.name.startswith("uvicorn"):
            continue  # the upstream's own access log: the server received the URL, as it must
        assert SECRET not in record.getMessage()
        assert SECRET not in str(record.__dict__)


@pytest.mark.fake_server
async def test_credential_header_is_scrubbed_and_bad_header_refused(
    server: FakeLLMServer,
) -> None:
    """An api-key extra header echoed back is masked; an unsendable header value is refused."""
    with pytest.raises(ValueError, match="api-key") as info:
        OpenAIProvider("m", base_url=server.base_url, extra_headers={"api-key": f"{SECRET}\x7f"})
    assert SECRET not in str(info.value)
    headers = {"api-key": f"{SECRET}\n"}
    server.inject(Fault.error(401, message=f"key {SECRET} unknown"), times=1)
    async with OpenAIProvider("m", base_url=server.base_url, extra_headers=headers) as provider:
        with pytest.raises(LlmError) as error:
            await provider.complete(REQUEST)
    for text in texts_of(error.value):
        assert SECRET not in text


def test_error_chain_is_cut_where_it_would_show_a_secret() -> None:
    """A cause whose text, args, notes or own chain shows a secret is not chained."""
    boundary = Boundary("p", secret=KEY, key_env="OPENAI_API_KEY", secrets=(SECRET,))
    leaky = httpx2.LocalProtocolError(f"Illegal header value b'Bearer {KEY}'")
    outer = RuntimeError("outer")
    outer.__cause__ = leaky
    noted = ValueError("plain")
    noted.add_note(f"while posting to http://h?key={SECRET}")
    for exc in (leaky, outer, noted):
        assert boundary.cause(exc) is None
    clean = httpx2.ConnectError("All connection attempts failed")
    assert boundary.cause(clean) is clean
    error = boundary.transport_error(leaky, model="m")
    assert KEY not in str(error)
    assert "***" in str(error)
