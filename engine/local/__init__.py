"""The local engine: Hugging Face diffusers pipelines run in this process (loading, warm caches, previews, result checks)."""
