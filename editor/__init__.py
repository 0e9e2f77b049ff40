"""Overpaint's editor: document model (no widgets), tools, file I/O and the Qt UI."""
