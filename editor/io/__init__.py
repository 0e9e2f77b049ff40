"""File input/output: images, OpenRaster projects, PNG export (see each module)."""
