"""Bản tin: Vietnamese news feeds turned into Telegram digests, with Vietnamese-aware search."""

__version__ = "0.1.0"
USER_AGENT = f"BanTin/{__version__} (+https://github.com/bantin-bot/bantin)"
