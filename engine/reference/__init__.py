"""Reference pictures: pictures that steer a generation without words (IP-Adapter) or are
the extra input pictures of an instruction edit.

`spec` says what a request records, `jobs` turns reference layers into specs and
pictures; outside Edit, `adapters` finds IP-Adapters and image encoders and tells what
fits from their shapes, `stage` checks a job's references and runs them, and
`ip_adapter` (torch, diffusers) loads an adapter and scales it per block and step."""
