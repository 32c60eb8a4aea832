"""`vex-llm ask` with --tools, --json-schema, --image and --json: the rich request on the CLI."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from _cli_run import one_line

from vex_llm import ImagePart, ResponseFormat, Tool
from vex_llm.cli import main
from vex_llm.cli._request import image, load_schema, load_tools
from vex_llm.testing import FakeLLMServer

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city"],
}
OPENAI_TOOLS = [
    {
        "type": "function",
        "function": {"name": "weather", "description": "Weather in a city", "parameters": WEATHER},
    },
    {"name": "clock", "description": "The time", "parameters": {"type": "object"}},
]
SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
    "additionalProperties": False,
}


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A tools file, a schema file and a PNG, as a user would have them."""
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps(OPENAI_TOOLS))
    schema = tmp_path / "city answer.schema.json"
    schema.write_text(json.dumps(SCHEMA))
    png = tmp_path / "photo"  # no extension: the type comes from the bytes
    png.write_bytes(PNG)
    return {"tools": tools, "schema": schema, "png": png}


TOOL_CALL_LINES = ["{", '  "city": "Paris",', '  "days": 0', "}"]


@pytest.mark.parametrize("stream", [[], ["--stream"]])
def test_tool_calls_are_printed_with_pretty_arguments(
    stream: list[str], files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """--tools offers the tools; the call the model makes is printed: name, id, arguments."""
    args = ["ask", "--provider", "mock", "--tools", str(files["tools"]), *stream, "Paris"]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("[tool call: weather · id call_")
    assert lines[1:5] == TOOL_CALL_LINES
    assert lines[5] == "[answered by mock · circuits mock: closed]"
    assert len(lines) == 6


@pytest.mark.parametrize("stream", [[], ["--stream"]])
def test_json_output_includes_the_tool_calls(
    stream: list[str], files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """--json prints one JSON object holding the tool calls, arguments as sent, and the rest."""
    args = ["ask", "--json", "--provider", "mock", "--tools", str(files["tools"]), *stream, "Paris"]
    assert main(args) == 0
    answer = json.loads(capsys.readouterr().out)
    (call,) = answer["tool_calls"]
    assert call["name"] == "weather"
    assert call["id"].startswith("call_")
    assert json.loads(call["arguments"]) == {"city": "Paris", "days": 0}
    assert answer["finish_reason"] == "tool_calls"
    assert answer["content"] == ""
    assert answer["provider"] == "mock"
    assert answer["circuits"] == {"mock": "closed"}
    assert answer["usage"]["total_tokens"] > 0


def test_json_output_of_a_text_answer(capsys: pytest.CaptureFixture[str]) -> None:
    """--json without tools is the text answer as JSON, with no tool calls."""
    assert main(["ask", "--json", "--provider", "mock", "what is 6 * 7?"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert (answer["content"], answer["tool_calls"], answer["finish_reason"]) == ("42", [], "stop")


def test_json_schema_reaches_the_provider(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """--json-schema asks for JSON matching the schema (the mock answers from it)."""
    args = ["ask", "--provider", "mock", "--json-schema", str(files["schema"]), "Paris"]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert json.loads(lines[0]) == {"answer": "Paris"}


def test_an_image_and_a_schema_go_with_tools(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """--image (a file and a URL), --json-schema and --tools together make one request."""
    args = [
        "ask", "--provider", "mock", "--image", str(files["png"]),
        "--image", "https://example.com/cat.jpg", "--json-schema", str(files["schema"]),
        "--tools", str(files["tools"]), "Paris",
    ]  # fmt: skip
    assert main(args) == 0
    assert capsys.readouterr().out.startswith("[tool call: weather")


def test_the_schema_is_named_after_its_file(files: dict[str, Path], tmp_path: Path) -> None:
    """The schema's name is the file's stem with characters OpenAI refuses replaced, strict."""
    assert load_schema(files["schema"]) == ResponseFormat.json_schema(
        "city_answer_schema", SCHEMA, strict=True
    )
    odd = tmp_path / ("é" * 70 + ".json")
    odd.write_text("{}")
    assert load_schema(odd).name == "schema"
    long = tmp_path / ("a" * 70 + ".json")
    long.write_text("{}")
    assert load_schema(long).name == "a" * 64


def test_openai_s_schema_wrapper_is_unwrapped(tmp_path: Path) -> None:
    """A file holding OpenAI's {name, schema, strict} wrapper gives the inner schema, named."""
    path = tmp_path / "wrapped.json"
    path.write_text(json.dumps({"name": "city answer", "schema": SCHEMA, "strict": False}))
    assert load_schema(path) == ResponseFormat.json_schema("city_answer", SCHEMA, strict=True)
    plain = tmp_path / "plain.json"  # a schema that merely has a property called schema
    plain.write_text(json.dumps({"type": "object", "schema": {}}))
    assert load_schema(plain).schema == {"type": "object", "schema": {}}


def test_both_tool_forms_and_input_schema_are_read(tmp_path: Path) -> None:
    """OpenAI function entries, plain entries and Anthropic's input_schema give the same Tool."""
    path = tmp_path / "tools.json"
    path.write_text(
        json.dumps(
            {
                "tools": [
                    {"type": "function", "function": {"name": "a", "parameters": WEATHER}},
                    {"name": "b", "parameters": WEATHER, "strict": True},
                    {"name": "c", "description": "C", "input_schema": WEATHER},
                ]
            }
        )
    )
    assert load_tools(path) == (
        Tool(name="a", parameters=WEATHER),
        Tool(name="b", parameters=WEATHER, strict=True),
        Tool(name="c", description="C", parameters=WEATHER),
    )


@pytest.mark.parametrize(
    ("data", "name", "media_type"),
    [
        (PNG, "x", "image/png"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 8, "x.png", "image/jpeg"),  # the bytes win
        (b"GIF89a" + b"\x00" * 8, "x", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "x", "image/webp"),
        (b"BM" + b"\x00" * 8, "x.bmp", "image/bmp"),  # unknown bytes: the extension
    ],
)
def test_an_image_file_is_sent_inline_with_its_type(
    data: bytes, name: str, media_type: str, tmp_path: Path
) -> None:
    """A local --image is read as bytes; its media type comes from its content, else its name."""
    path = tmp_path / name
    path.write_bytes(data)
    assert image(str(path)) == ImagePart(data=data, media_type=media_type)


def test_an_image_url_is_sent_as_a_url() -> None:
    """An http(s) --image is passed on for the model to fetch."""
    url = "https://example.com/cat.jpg"
    assert image(url) == ImagePart(url=url)


@pytest.mark.parametrize(
    ("flag", "content", "message"),
    [
        ("--image", None, "no such file"),
        ("--image", b"just text", "is not a PNG, JPEG, GIF or WebP image"),
        ("--image", b"", "is empty"),
        ("--json-schema", None, "no such file"),
        ("--json-schema", b'{"type": ', "is not valid JSON: Expecting value (line 1, column 10)"),
        ("--json-schema", b"[1]", "must hold a JSON Schema object, got a list"),
        ("--json-schema", b"\xff{}", "is not UTF-8 text (byte 0)"),
        ("--json-schema", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        ("--tools", b"{}", "must hold a list of tools, got an object"),
        ("--tools", b"[]", "must hold a list of tools, got an empty list"),
        ("--tools", b"[3]", "tools[0] must be a tool object, got a number"),
        ("--tools", b'[{"name": "a", "parameter": {}}]', 'tools[0] has unknown field "parameter"'),
        ("--tools", b'[{"type": "function", "function": {"name": " "}}]', "function.name must"),
        ("--tools", b'[{"type": "function", "name": "a"}]', '{"type": "function", "function"'),
        ("--tools", b'[{"name": "a", "parameters": []}]', "parameters must be a JSON Schema"),
        ("--tools", b'[{"name": "a", "parameters": {}, "input_schema": {}}]', "keep one"),
        ("--tools", b'[{"name": "a", "strict": "yes"}]', "strict must be true or false"),
        ("--tools", b'[{"name": "a", "description": 1}]', "description must be a string"),
        ("--tools", b'[{"name": "a"}, {"name": "a"}]', 'names a tool twice: "a"'),
    ],
)
def test_a_file_that_cannot_be_used_is_one_line_and_exit_2(
    flag: str,
    content: bytes | None,
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A bad --image/--json-schema/--tools file is refused before any call, naming the file."""
    path = tmp_path / "input.json"
    if content is not None:
        path.write_bytes(content)
    assert main(["ask", "--provider", "mock", flag, str(path), "hi"]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f'vex-llm: {flag} "{path}')
    assert message in line
    assert "Traceback" not in line


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ftp://example.com/a.png", "--image takes a file or an http(s) URL, got 'ftp://"),
        ("https:///a.png", "--image has no host"),
        (".", "cannot read it"),
    ],
)
def test_a_bad_image_value_is_one_line(
    value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """An --image that is neither a readable file nor an http(s) URL says which."""
    assert main(["ask", "--provider", "mock", "--image", value, "hi"]) == 2
    assert message in one_line(capsys.readouterr().err)


def test_an_image_over_the_limit_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An --image over 20 MiB is refused before it is read whole or sent."""
    path = tmp_path / "huge.png"
    with path.open("wb") as file:
        file.write(PNG)
        file.truncate(20 * 1024 * 1024 + 1)
    assert main(["ask", "--provider", "mock", "--image", str(path), "hi"]) == 2
    assert "is larger than 20 MiB" in one_line(capsys.readouterr().err)


# -- over a real socket -------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    """A fake provider on 127.0.0.1, in a thread of its own (main() runs its own loop)."""
    with FakeLLMServer(seed=1) as running:
        yield running


@pytest.mark.fake_server
@pytest.mark.parametrize("stream", [[], ["--stream"]])
def test_the_openai_wire_body_carries_the_image_schema_and_tools(
    stream: list[str],
    files: dict[str, Path],
    server: FakeLLMServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Over a socket, the OpenAI body holds the inline image, the strict schema and the tools."""
    args = [
        "ask", "--base-url", server.base_url, "--model", "m", *stream,
        "--image", str(files["png"]), "--json-schema", str(files["schema"]),
        "--tools", str(files["tools"]), "Paris",
    ]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    (entry,) = server.journal
    body = entry.json()
    assert isinstance(body, dict)
    (message,) = body["messages"]
    assert message["role"] == "user"
    assert message["content"] == [
        {"type": "text", "text": "Paris"},
        {
            "type": "image_url",
            "image_url": {"url": "data:image/png;base64," + base64.b64encode(PNG).decode()},
        },
    ]
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "city_answer_schema", "schema": SCHEMA, "strict": True},
    }
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "description": "Weather in a city",
                "parameters": WEATHER,
            },
        },
        {
            "type": "function",
            "function": {
                "name": "clock",
                "description": "The time",
                "parameters": {"type": "object"},
            },
        },
    ]


@pytest.mark.fake_server
def test_the_anthropic_wire_body_carries_the_image_schema_and_tools(
    files: dict[str, Path],
    server: FakeLLMServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Over a socket, the Anthropic body holds the image block, the schema and input_schema."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-a-real-key")
    args = [
        "ask", "--provider", "anthropic", "--base-url", server.anthropic_base_url,
        "--model", "m", "--image", str(files["png"]), "--json-schema", str(files["schema"]),
        "--tools", str(files["tools"]), "Paris",
    ]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    (entry,) = server.journal
    body = entry.json()
    assert isinstance(body, dict)
    (message,) = body["messages"]
    assert message["content"] == [
        {"type": "text", "text": "Paris"},
        {
            "type": "image",
            "source": {
                "type": "base64",
                "media_type": "image/png",
                "data": base64.b64encode(PNG).decode(),
            },
        },
    ]
    assert body["output_config"]["format"] == {"type": "json_schema", "schema": SCHEMA}
    assert body["tools"] == [
        {"name": "weather", "description": "Weather in a city", "input_schema": WEATHER},
        {"name": "clock", "description": "The time", "input_schema": {"type": "object"}},
    ]
