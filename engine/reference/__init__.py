"""Reference pictures: pictures that steer a generation without words (IP-Adapter) or are
the extra input pictures of an instruction edit."""
