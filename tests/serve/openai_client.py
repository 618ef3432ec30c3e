"""Chat with an `aigc serve` server through the official `openai` client.

Usage: openai_client.py BASE_URL   (such as http://127.0.0.1:8000/v1)

Runs one non-streaming and one streaming chat completion, checks the
fields the client parses, and prints one JSON line with what it saw.
Exits non-zero, with the reason on stderr, when a check fails.
"""

import json
import sys

import openai


def main() -> None:
    base_url = sys.argv[1]
    client = openai.OpenAI(base_url=base_url, api_key="not-needed", max_retries=0, timeout=60)

    models = client.models.list()
    model = models.data[0].id

    completion = client.chat.completions.create(
        model=model,
        messages=[
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "你好！How are you?"},
        ],
        max_tokens=12,
        temperature=0.7,
        top_p=0.9,
        seed=1,
    )
    choice = completion.choices[0]
    assert completion.object == "chat.completion", completion.object
    assert completion.model == model, completion.model
    assert choice.message.role == "assistant", choice.message.role
    assert isinstance(choice.message.content, str)
    assert choice.finish_reason in ("stop", "length"), choice.finish_reason
    assert completion.usage.completion_tokens == 12, completion.usage
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + 12, completion.usage

    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Tell me a story."}],
        max_completion_tokens=20,
        stop=["\n\n"],
        seed=2,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces = []
    finish_reason = None
    usage = None
    chunks = 0
    for chunk in stream:
        chunks += 1
        assert chunk.object == "chat.completion.chunk", chunk.object
        if chunk.usage is not None:
            usage = chunk.usage
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        if delta.content:
            pieces.append(delta.content)
        if chunk.choices[0].finish_reason is not None:
            finish_reason = chunk.choices[0].finish_reason
    assert finish_reason in ("stop", "length"), finish_reason
    assert usage is not None and usage.completion_tokens >= 1, usage
    assert len(pieces) >= 1, pieces

    try:
        client.chat.completions.create(model=model, messages=[], max_tokens=5)
    except openai.BadRequestError as error:
        assert error.status_code == 400
        assert error.body["param"] == "messages", error.body
    else:
        raise AssertionError("an empty messages list was accepted")

    print(json.dumps({
        "openai_version": openai.__version__,
        "model": model,
        "reply": choice.message.content,
        "stream_chunks": chunks,
        "stream_reply": "".join(pieces),
        "stream_finish_reason": finish_reason,
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
