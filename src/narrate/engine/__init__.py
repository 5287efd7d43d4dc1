"""Narrating stories: the batch engine, its results and the run around it."""
