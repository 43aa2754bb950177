"""An application that calls generated workflow functions the way real code would.

Everything here is checked by `mypy --strict`: a misspelled parameter, a wrong type or a
missing required argument is caught before anything runs.

Run it against a ComfyUI server (the model-free workflows need no model files)::

    uv run python examples/app.py path/to/picture.png
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from comfygen_runtime import Backend, Image, Text
from gen import (
    BookCoverResult,
    book_cover,
    invert_color_image,
    invert_uploaded_image,
    text_preview,
)


async def make_cover(client: Backend | None, title: str) -> tuple[Image, Image]:
    """Generate a book cover and its thumbnail; both are typed result fields."""
    result: BookCoverResult = await book_cover(
        prompt=f"a book cover for '{title}', minimalist, bold typography",
        width=832,
        height=1216,
        client=client,
    )
    return result.cover[0], result.thumbnail[0]


async def invert(client: Backend | None, picture: Path) -> list[Image]:
    """Upload a local picture, invert it, and return the inverted images."""
    result = await invert_uploaded_image(image=picture, client=client, timeout=120)
    return result.inverted


async def smoke_test(client: Backend | None) -> tuple[list[Image], list[Text]]:
    """Run the two model-free workflows that need no input files."""
    colors, text = await asyncio.gather(
        invert_color_image(width=64, height=64, client=client),
        text_preview(text="hello", suffix=", world", client=client),
    )
    return colors.image, text.preview


async def main(argv: list[str]) -> None:
    client: Backend | None = None  # None: the default client configured from the environment
    images, texts = await smoke_test(client)
    print("inverted:", [image.url for image in images])
    print("text:", [text.text for text in texts])
    if len(argv) > 1:
        for image in await invert(client, Path(argv[1])):
            print("uploaded and inverted:", image.url)


if __name__ == "__main__":
    asyncio.run(main(sys.argv))
