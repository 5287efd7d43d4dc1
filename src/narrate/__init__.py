"""narrate: turn a story text file into narrated audio, one paragraph at a time."""

__version__ = "0.1.0"
