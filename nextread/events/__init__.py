"""Interaction events: the bus (memory, Redis Streams, Kafka) and the generic worker runtime."""

from nextread.events.bus import DeadLetter, EventBus, Message, bus_from_settings, bus_from_url

__all__ = ["DeadLetter", "EventBus", "Message", "bus_from_settings", "bus_from_url"]
