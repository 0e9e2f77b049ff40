"""Everything LoRA: the library of installed LoRAs (discovery, prompt tags, checks) and the file format training writes."""
