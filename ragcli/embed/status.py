"""How an index's texts are embedded, for ``rag status``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def embedding_status(manifest: Mapping[str, Any], settings) -> dict[str, Any]:
    """Backend variant, prompts, dimensions, and the server or the device (the device
    from the settings, the driver and the installed packages)."""
    from ragcli.embed import SERVED_VARIANTS
    from ragcli.embed.device import describe
    from ragcli.embed.spec import MANIFEST_KEYS

    variant = manifest.get("embed_variant", "float")
    info: dict[str, Any] = {
        "variant": variant,
        **{key: manifest[key] for key in MANIFEST_KEYS if key in manifest},
    }
    if variant in SERVED_VARIANTS:
        from ragcli.embed.served import display_url

        url = settings.embed_base_url or manifest.get("embed_base_url")
        info["server"] = display_url(url) if url else None
    else:
        info["device"] = describe(settings.device)
    return info
