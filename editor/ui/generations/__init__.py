"""The Generations dock: the generation log (engine.history) searched, replayed and reused."""
