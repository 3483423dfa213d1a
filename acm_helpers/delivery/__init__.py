"""Packets delivered: `acm send` emails each provider its month's packet (:mod:`.send`)."""
